"""Session fixtures: each real component starts once (tests/env/*.sh), and is reused if already up."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import BUSYBOX_IMAGE, ENV_SCRIPTS, Docker


def _env_script(*args: str) -> dict[str, str]:
    subprocess.run(["bash", str(ENV_SCRIPTS / "dockerd.sh"), *args], check=True, timeout=180)
    out = subprocess.run(
        ["bash", str(ENV_SCRIPTS / "dockerd.sh"), "env"], check=True, capture_output=True, text=True
    ).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


@pytest.fixture(scope="session")
def docker_env() -> dict[str, str]:
    """The plain test daemon: unix socket and tcp://127.0.0.1:PORT without TLS."""
    env = _env_script("start")
    subprocess.run(
        ["bash", str(ENV_SCRIPTS / "busybox-image.sh"), f"unix://{env['PFT_DOCKER_SOCK']}", BUSYBOX_IMAGE],
        check=True,
        timeout=180,
    )
    return env


@pytest.fixture(scope="session")
def docker(docker_env: dict[str, str]) -> Iterator[Docker]:
    d = Docker(f"unix://{docker_env['PFT_DOCKER_SOCK']}", docker_env["PFT_DOCKER_TCP"], f"pft{os.getpid()}-")
    yield d
    d.remove_prefixed()


@pytest.fixture(scope="session")
def tls_env() -> dict[str, str]:
    """The TLS daemon (client certificates required) and the certificate directories."""
    return _env_script("start-tls")


@pytest.fixture(scope="session")
def tls_dirs(tls_env: dict[str, str]) -> dict[str, Path]:
    base = Path(tls_env["PFT_TLS_DIR"])
    return {name: base / name for name in ("client", "wrongca", "badclient")}


@pytest.fixture(scope="session")
def auth_registry() -> dict[str, str]:
    """The registry with htpasswd basic auth and TLS from its own CA: host:port, CA file, password."""
    subprocess.run(["bash", str(ENV_SCRIPTS / "registry.sh"), "start-auth"], check=True, timeout=60)
    out = subprocess.run(["bash", str(ENV_SCRIPTS / "registry.sh"), "env"], check=True, capture_output=True, text=True)
    env = dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)
    d = Path(env["PFT_REGISTRY_AUTH_DIR"])
    return {
        "address": env["PFT_REGISTRY_AUTH"],
        "ca": str(d / "ca.pem"),
        "password": (d / "password").read_text().strip(),
        "password_file": str(d / "password"),
    }


@pytest.fixture(scope="session")
def sshd() -> dict[str, str]:
    """The plain sshd on 127.0.0.1 (tests/env/sshd.sh): port, and the directory with its keys."""
    subprocess.run(["bash", str(ENV_SCRIPTS / "sshd.sh"), "start"], check=True, timeout=60)
    out = subprocess.run(["bash", str(ENV_SCRIPTS / "sshd.sh"), "env"], check=True, capture_output=True, text=True)
    return dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)


@pytest.fixture(scope="session")
def registry() -> str:
    """The plain private registry (host:port on 127.0.0.1) the test daemon pushes to."""
    subprocess.run(["bash", str(ENV_SCRIPTS / "registry.sh"), "start"], check=True, timeout=60)
    out = subprocess.run(["bash", str(ENV_SCRIPTS / "registry.sh"), "env"], check=True, capture_output=True, text=True)
    return dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)["PFT_REGISTRY"]
