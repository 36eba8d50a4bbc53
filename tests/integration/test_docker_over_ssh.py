"""ssh:// Docker URLs for real: the plugins reach the test daemon through the test sshd, whose key
for this is forced to `docker system dial-stdio` (as on a Docker host reached over SSH)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import Docker, run_plugin

pytestmark = [pytest.mark.sshd, pytest.mark.docker]


@pytest.fixture
def ssh_cfg(sshd: dict[str, str], tmp_path: Path) -> Path:
    d = Path(sshd["PFT_SSHD_DIR"])
    ssh_config = tmp_path / "ssh_config"
    ssh_config.write_text(
        f"Host poller-over-ssh\n  HostName 127.0.0.1\n  Port {sshd['PFT_SSHD_PORT']}\n  User root\n"
        f"  IdentityFile {d / 'docker_ed25519'}\n  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile {d / 'known_hosts'}\n  StrictHostKeyChecking yes\n"
    )
    cfg = tmp_path / "fleet.toml"
    cfg.write_text(f'[docker]\nssh_config = "{ssh_config}"\n')
    return cfg


def test_docker_host_and_container_over_ssh(docker: Docker, ssh_cfg: Path) -> None:
    name = docker.run("over-ssh")
    r = run_plugin("check_docker_host", "--docker-url", "ssh://poller-over-ssh", "--config", str(ssh_cfg))
    assert r.rc == 0 and r.err == "", r.out
    assert r.line.startswith("DOCKER OK - Docker ")
    r = run_plugin(
        "check_poller_container", "--docker-url", "ssh://poller-over-ssh", "--config", str(ssh_cfg), "-n", name
    )
    assert r.rc == 0 and r.line.startswith(f"CONTAINER OK - {name} running"), r.out


def test_ssh_that_cannot_log_in_is_unknown(ssh_cfg: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad_config"
    bad.write_text(ssh_cfg.with_name("ssh_config").read_text().replace("docker_ed25519", "no_such_key"))
    cfg = tmp_path / "bad.toml"
    cfg.write_text(f'[docker]\nssh_config = "{bad}"\n')
    r = run_plugin("check_docker_host", "--docker-url", "ssh://poller-over-ssh", "--config", str(cfg), "-t", "5")
    assert r.rc == 3 and r.err == ""
    assert r.line.startswith("DOCKER UNKNOWN - docker at ssh://poller-over-ssh closed the connection"), r.out
