"""The docker_host role's snmpd.conf, rendered by the role's own tasks (tasks/snmpd.yml) and served by
a real snmpd (Debian `snmpd`) on 127.0.0.1: the subtrees Centreon's Linux SNMP checks read answer to
the central's address with the community from the file; another community, another source address
and anything outside those views get nothing."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.ansible
# the Ansible under test: this venv's, or another one (make test-ansible-el7: ansible/requirements.txt)
ANSIBLE_BIN = Path(os.environ.get("PFT_ANSIBLE_BIN") or Path(sys.executable).parent)
ANSIBLE = ROOT / "ansible"
ROLE = ANSIBLE / "roles" / "docker_host"
CENTRAL = "127.0.0.2"  # the central's address in this test; snmpwalk binds it with --clientaddr
COMMUNITY = "s3cret-Comm.1"
TASKS = "snmpd.yml"

# what centreon-plugins' os::linux::snmp modes read
VIEWS = {
    "system (sysDescr, sysUpTime)": ".1.3.6.1.2.1.1",
    "IF-MIB ifTable": ".1.3.6.1.2.1.2.2",
    "IF-MIB ifXTable": ".1.3.6.1.2.1.31.1.1",
    "hrSystemUptime": ".1.3.6.1.2.1.25.1.1",
    "hrStorageTable": ".1.3.6.1.2.1.25.2.3",
    "hrProcessorTable (hrProcessorLoad fills after its first minute)": ".1.3.6.1.2.1.25.3.3",
    "hrSWRunTable": ".1.3.6.1.2.1.25.4.2",
    "UCD memory": ".1.3.6.1.4.1.2021.4",
    "UCD laLoad": ".1.3.6.1.4.1.2021.10.1.3",
    "UCD ssCpuRaw": ".1.3.6.1.4.1.2021.11",
}


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def render(tmp: Path, **variables: object) -> subprocess.CompletedProcess[str]:
    play = {
        "hosts": "localhost",
        "gather_facts": False,
        "vars_files": [str(ROLE / "vars" / "Debian.yml")],
        "vars": {"docker_host_snmpd_conf": str(tmp / "snmpd.conf"), "docker_host_manage_services": False, **variables},
        "tasks": [{"name": "Render", "ansible.builtin.include_role": {"name": "docker_host", "tasks_from": TASKS}}],
    }
    playbook = tmp / "snmpd.yml"
    playbook.write_text(json.dumps([play]))
    return subprocess.run(
        [str(ANSIBLE_BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local",
         "-e", f"ansible_python_interpreter={sys.executable}", str(playbook)],
        capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "ANSIBLE_CONFIG": str(ANSIBLE / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"},
    )  # fmt: skip


@pytest.fixture(scope="module")
def snmpd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    if not shutil.which("snmpd") or not shutil.which("snmpwalk"):
        pytest.skip("snmpd/snmpwalk missing: bash tests/env/install-deps.sh (Debian snmpd, snmp)")
    tmp = tmp_path_factory.mktemp("snmpd")
    (tmp / "community").write_text(COMMUNITY + "\n")
    port = free_udp_port()
    proc = render(
        tmp,
        docker_host_snmp_community_file=str(tmp / "community"),
        docker_host_snmp_sources=[CENTRAL],
        docker_host_snmp_listen=f"udp:127.0.0.1:{port}",
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    conf = tmp / "snmpd.conf"
    assert oct(conf.stat().st_mode & 0o777) == "0o600"  # it holds the community
    persistent = tmp / "persistent"
    persistent.mkdir()
    # -C: only this file; -f: in the foreground, so the PID is the one we stop; -u/-g: not root
    daemon = subprocess.Popen(
        ["snmpd", "-f", "-C", "-c", str(conf), "-Lf", str(tmp / "snmpd.log"), "-u", "nobody", "-g", "nogroup",
         "-p", str(tmp / "snmpd.pid")],
        env={**os.environ, "SNMP_PERSISTENT_DIR": str(persistent), "MIBS": ""},
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(50):
            if walk(port, ".1.3.6.1.2.1.1.1", source=CENTRAL):
                break
            assert daemon.poll() is None, (tmp / "snmpd.log").read_text()
            time.sleep(0.2)
        yield port, tmp
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=20)


def walk(port: int, oid: str, community: str = COMMUNITY, source: str | None = None) -> list[str]:
    args = ["snmpwalk", "-v2c", "-c", community, "-On", "-t", "1", "-r", "0", "-m", ""]
    if source:
        args.append(f"--clientaddr={source}")
    proc = subprocess.run([*args, f"udp:127.0.0.1:{port}", oid], capture_output=True, text=True, timeout=30)
    return [
        line
        for line in proc.stdout.splitlines()
        if line.startswith(oid + ".") and "No Such" not in line and "No more variables" not in line
    ]


@pytest.mark.parametrize("view", VIEWS)
def test_the_central_reads_what_the_linux_checks_need(snmpd: tuple[int, Path], view: str) -> None:
    port, _ = snmpd
    assert walk(port, VIEWS[view], source=CENTRAL), f"{view} ({VIEWS[view]}) answers nothing"


def test_another_community_another_source_and_other_subtrees_get_nothing(snmpd: tuple[int, Path]) -> None:
    port, _ = snmpd
    assert walk(port, ".1.3.6.1.2.1.1", source=CENTRAL)  # the daemon answers...
    assert walk(port, ".1.3.6.1.2.1.1", community="public", source=CENTRAL) == []  # ...not to another community
    assert walk(port, ".1.3.6.1.2.1.1", source="127.0.0.1") == []  # ...nor to another address
    assert walk(port, ".1.3.6.1.2.1.4", source=CENTRAL) == []  # IP-MIB: not a view the checks need
    assert walk(port, ".1.3.6.1.6.3", source=CENTRAL) == []  # the agent's own SNMP modules


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"docker_host_snmp_sources": [CENTRAL]}, "snmpd needs docker_host_snmp_community_file"),
        ({"docker_host_snmp_sources": []}, "snmpd needs docker_host_snmp_community_file"),
        ({"docker_host_snmp_sources": ["10.0.0.1 -V all"]}, "snmpd needs docker_host_snmp_community_file"),
        ({"community": "two words", "docker_host_snmp_sources": [CENTRAL]}, "the community must be 1-64 characters"),
    ],
)
def test_no_snmpd_conf_without_a_community_file_and_a_central(
    tmp_path: Path, variables: dict[str, object], message: str
) -> None:
    if "community" in variables:
        (tmp_path / "community").write_text(str(variables.pop("community")) + "\n")
        variables["docker_host_snmp_community_file"] = str(tmp_path / "community")
    proc = render(tmp_path, **variables)
    assert proc.returncode != 0 and message in proc.stdout, proc.stdout[-2000:]
    assert "two words" not in proc.stdout  # the community never reaches the log
    assert not (tmp_path / "snmpd.conf").exists()
