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


def _ssh_children_with(marker: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if proc.name.isdigit() and argv and argv[0].endswith(b"ssh") and marker.encode() in b" ".join(argv):
            found.append(int(proc.name))
    return found


def test_a_dial_stdio_that_never_answers_ends_on_time_and_leaves_no_ssh(ssh_cfg: Path, tmp_path: Path) -> None:
    hang = tmp_path / "hang_config"
    hang.write_text(ssh_cfg.with_name("ssh_config").read_text().replace("docker_ed25519", "hang_ed25519"))
    cfg = tmp_path / "hang.toml"
    cfg.write_text(f'[docker]\nssh_config = "{hang}"\n')
    r = run_plugin("check_docker_host", "--docker-url", "ssh://poller-over-ssh", "--config", str(cfg), "-t", "3")
    assert r.rc == 3 and r.err == ""
    assert r.line in (
        "DOCKER UNKNOWN - docker at ssh://poller-over-ssh did not answer within 3 s",
        "DOCKER UNKNOWN - no answer within 3 s (-t)",
    ), r.out
    assert _ssh_children_with(str(hang)) == []  # not re-parented to PID 1, still running


def test_a_sweep_over_a_hung_ssh_host_ends_on_time(docker: Docker, ssh_cfg: Path, tmp_path: Path) -> None:
    """No alarm in a sweep's threads: the read timeout of the pipe itself bounds it."""
    import json
    import subprocess
    import sys

    hang = tmp_path / "hang_config"
    hang.write_text(ssh_cfg.with_name("ssh_config").read_text().replace("docker_ed25519", "hang_ed25519"))
    inv = tmp_path / "inventory.json"
    hosts = {"poller-hang": {"poller_docker_url": "ssh://poller-over-ssh"}}
    inv.write_text(json.dumps({"all": {"children": {"pollers": {"hosts": hosts}}}}))
    cfg = tmp_path / "fleet.toml"
    cfg.write_text(f'[docker]\nssh_config = "{hang}"\n[fleet]\ninventory = "{inv}"\n')
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "pollerfleet",
            "--config",
            str(cfg),
            "status",
            "--json",
            "-t",
            "2",
            "--host-timeout",
            "20",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    doc = json.loads(r.stdout)
    assert doc[0]["docker"]["line"] == "DOCKER UNKNOWN - docker at ssh://poller-over-ssh did not answer within 2 s"
    assert _ssh_children_with(str(hang)) == []
