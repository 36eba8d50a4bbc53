"""The docker_host role and the playbooks: syntax, lint at the production profile, and a
check-mode run on this machine (a real run would reconfigure its Docker and sshd)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.ansible
ANSIBLE = ROOT / "ansible"
BIN = Path(sys.executable).parent
ENV = {**os.environ, "ANSIBLE_CONFIG": str(ANSIBLE / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}


@pytest.mark.parametrize("playbook", ["prepare_host.yml", "deploy_poller.yml"])
def test_syntax(playbook: str) -> None:
    proc = subprocess.run(
        [str(BIN / "ansible-playbook"), "--syntax-check", str(ANSIBLE / playbook)],
        capture_output=True,
        text=True,
        env=ENV,
        cwd=ANSIBLE,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_lint_production_profile() -> None:
    proc = subprocess.run(
        [str(BIN / "ansible-lint"), "--offline", "--profile", "production"],
        capture_output=True,
        text=True,
        env=ENV,
        cwd=ANSIBLE,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


@pytest.mark.slow
def test_prepare_host_check_mode(tmp_path: Path, tls_dirs: dict[str, Path]) -> None:
    daemon_json = Path("/etc/docker/daemon.json")
    before = daemon_json.read_bytes() if daemon_json.exists() else None
    inv = tmp_path / "inventory.yml"
    (tmp_path / "community").write_text("fleet-ro\n")
    host = {
        "docker_host_snmp_community_file": str(tmp_path / "community"),
        "docker_host_snmp_sources": ["127.0.0.1"],
        "ansible_connection": "local",
        "ansible_python_interpreter": "{{ ansible_playbook_python }}",
        "docker_host_tls_ca_src": str(tls_dirs["client"] / "ca.pem"),
        "docker_host_tls_cert_src": str(tls_dirs["client"] / "cert.pem"),
        "docker_host_tls_key_src": str(tls_dirs["client"] / "key.pem"),
    }
    inv.write_text(json.dumps({"all": {"children": {"pollers": {"hosts": {"localhost": host}}}}}))
    proc = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", str(inv), str(ANSIBLE / "prepare_host.yml"), "--check", "--diff"],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=300,
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert '"tlsverify": true' in out and "tcp://0.0.0.0:2376" in out  # the daemon.json it would write
    assert "failed=0" in out
    assert "fleet-ro" not in out  # the SNMP community is no part of --diff
    assert (daemon_json.read_bytes() if daemon_json.exists() else None) == before  # check mode wrote nothing
