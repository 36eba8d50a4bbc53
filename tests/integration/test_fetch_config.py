"""The poller image's config fetch client against a real sshd on 127.0.0.1 with real rsync/ssh."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.sshd
CLIENT = ROOT / "images" / "centreon-engine" / "fetch_config.py"


def run(sshd: dict[str, str], config_dir: Path, remote: Path, key: str = "id_ed25519", **extra: str) -> tuple[int, str]:
    d = Path(sshd["PFT_SSHD_DIR"])
    env = {
        "PATH": os.environ["PATH"],
        "CENTRAL_HOST": "127.0.0.1",
        "CENTRAL_PORT": sshd["PFT_SSHD_PORT"],
        "CENTRAL_USER": "root",
        "POLLER_NAME": "poller01",
        "REMOTE_CONFIG_DIR": str(remote) + "/{poller}",
        "SSH_KEY": str(d / key),
        "KNOWN_HOSTS": str(d / "known_hosts"),
        "CONFIG_DIR": str(config_dir),
        "VERIFY_COMMAND": "test -s {config}/centengine.cfg",
        "FETCH_ATTEMPTS": "2",
        "FETCH_BACKOFF": "0.1",
        "FETCH_TIMEOUT": "20",
        **extra,
    }
    proc = subprocess.run(
        [sys.executable, str(CLIENT)], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    return proc.returncode, proc.stderr


@pytest.fixture
def central(tmp_path: Path) -> Path:
    remote = tmp_path / "central"
    (remote / "poller01" / "conf.d").mkdir(parents=True)
    (remote / "poller01" / "centengine.cfg").write_text("cfg_dir=conf.d\n# generation 1\n")
    (remote / "poller01" / "conf.d" / "hosts.cfg").write_text("define host { host_name web01 }\n")
    return remote


def tree(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_fetch_verify_swap(sshd: dict[str, str], central: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "etc"
    rc, err = run(sshd, cfg, central)
    assert rc == 0, err
    assert "configuration of poller01 fetched from 127.0.0.1 and verified" in err
    assert (cfg / "current").is_symlink()
    assert tree(cfg / "current") == tree(central / "poller01")
    # a new generation replaces it atomically; the previous release is kept
    (central / "poller01" / "centengine.cfg").write_text("cfg_dir=conf.d\n# generation 2\n")
    rc, err = run(sshd, cfg, central)
    assert rc == 0, err
    assert (cfg / "current" / "centengine.cfg").read_text().endswith("# generation 2\n")
    assert len(list((cfg / "releases").iterdir())) == 2
    assert not list(cfg.glob(".staging-*"))


def test_central_down_keeps_the_last_good_config(sshd: dict[str, str], central: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "etc"
    assert run(sshd, cfg, central)[0] == 0
    before = tree(cfg / "current")
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    closed = str(s.getsockname()[1])
    s.close()
    rc, err = run({**sshd, "PFT_SSHD_PORT": closed}, cfg, central)
    assert rc == 0
    assert "attempt 1/2: the central is unreachable" in err and "attempt 2/2" in err
    assert "WARNING: fetching failed; the engine starts with the LAST GOOD configuration" in err
    assert tree(cfg / "current") == before


def test_transfer_cut_keeps_the_previous_config_byte_for_byte(
    sshd: dict[str, str], central: Path, tmp_path: Path
) -> None:
    cfg = tmp_path / "etc"
    assert run(sshd, cfg, central)[0] == 0
    before = tree(cfg / "current")
    (central / "poller01" / "conf.d" / "services.cfg").write_bytes(os.urandom(2 * 1024 * 1024))
    # this key's forced command serves rsync at 50 KB/s and kills the server side after 2 s
    rc, err = run(sshd, cfg, central, key="cut_ed25519", FETCH_ATTEMPTS="1")
    assert rc == 0
    assert "attempt 1/1: rsync failed with exit code" in err, err
    assert tree(cfg / "current") == before
    assert not list(cfg.glob(".staging-*"))


def test_failed_verification_keeps_the_previous_config(sshd: dict[str, str], central: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "etc"
    assert run(sshd, cfg, central)[0] == 0
    before = tree(cfg / "current")
    (central / "poller01" / "centengine.cfg").write_text("")  # the central generated an empty main file
    rc, err = run(sshd, cfg, central, FETCH_ATTEMPTS="1")
    assert rc == 0 and "verification failed (exit 1)" in err
    assert tree(cfg / "current") == before


def test_no_previous_config_is_a_clear_failure(sshd: dict[str, str], central: Path, tmp_path: Path) -> None:
    rc, err = run(sshd, tmp_path / "etc", central, VERIFY_COMMAND="false", FETCH_ATTEMPTS="1")
    assert rc == 2
    assert "ERROR: fetching failed and there is no previous configuration in" in err
    assert "the engine cannot start" in err


def test_unknown_host_key_is_refused(sshd: dict[str, str], central: Path, tmp_path: Path) -> None:
    other = tmp_path / "known_hosts"
    other.write_text(
        f"[127.0.0.1]:{sshd['PFT_SSHD_PORT']} ssh-ed25519 "
        "AAAAC3NzaC1lZDI1NTE5AAAAIGxT7gpf6EDPDFQg0SXkJj6uGqUk6HfLz5nB0Q6a9kXz\n"
    )
    rc, err = run(sshd, tmp_path / "etc", central, KNOWN_HOSTS=str(other), FETCH_ATTEMPTS="3")
    assert rc == 2
    assert "the central's SSH host key is not the one in KNOWN_HOSTS: refused" in err
    assert "attempt 2/3" not in err  # a wrong host key is not retried
