"""Session fixtures: each real component starts once (tests/env/*.sh), and is reused if already up."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import BUSYBOX_IMAGE, DOCKER_CLI, ENV_SCRIPTS, ROOT, Docker, env_script


@pytest.fixture(scope="session")
def docker_env() -> dict[str, str]:
    """The plain test daemon: unix socket and tcp://127.0.0.1:PORT without TLS."""
    env = env_script("dockerd.sh", "start")
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
def twin_image(docker: Docker) -> str:
    """The Debian twin of the poller image, built once per session by images/build-twin.sh (its root
    filesystem is cached between sessions; the daemon's layer cache makes a rebuild quick)."""
    tag = "pollerfleet-test/twin:session"
    subprocess.run(
        ["bash", str(ROOT / "images" / "build-twin.sh"), tag],
        env={**os.environ, "DOCKER_HOST": docker.host, "DOCKER": DOCKER_CLI},
        check=True,
        stdout=subprocess.DEVNULL,
        timeout=600,
    )
    return tag


@pytest.fixture(scope="session")
def tls_env() -> dict[str, str]:
    """The TLS daemon (client certificates required) and the certificate directories."""
    return env_script("dockerd.sh", "start-tls")


@pytest.fixture(scope="session")
def tls_dirs(tls_env: dict[str, str]) -> dict[str, Path]:
    base = Path(tls_env["PFT_TLS_DIR"])
    return {name: base / name for name in ("client", "wrongca", "badclient")}


@pytest.fixture(scope="session")
def auth_registry() -> dict[str, str]:
    """The registry with htpasswd basic auth and TLS from its own CA: host:port, CA file, password."""
    env = env_script("registry.sh", "start-auth")
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
    return env_script("sshd.sh", "start")


@pytest.fixture(scope="session")
def registry() -> str:
    """The plain private registry (host:port on 127.0.0.1) the test daemon pushes to."""
    return env_script("registry.sh", "start")["PFT_REGISTRY"]


@pytest.fixture(scope="session")
def hanging_port() -> Iterator[int]:
    """A listener on 127.0.0.1 that accepts connections and never answers (a hung daemon)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(srv.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield srv.getsockname()[1]
    stop.set()
    t.join()
    for c in held:
        c.close()
    srv.close()
