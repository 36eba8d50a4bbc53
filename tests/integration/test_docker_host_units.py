"""The docker_host role's daemon configuration against the real unit of each package it supports:
the role's own tasks (tasks/daemon.yml, run by ansible-playbook into a scratch root) render
daemon.json, the drop-in and EL 7's /etc/sysconfig/docker; the test then applies the drop-in to the
packaged unit as systemd does and checks the command dockerd would start with (the package's own
binary and runtime flags, no -H, no flag that daemon.json repeats), and `systemd-analyze verify`
reads the result. Debian's docker.io unit is this machine's own; CentOS 7's docker 1.13 and
docker-ce's units are fixtures (tests/fixtures/docker-units). Whether dockerd-current then starts
is proven only on a CentOS 7 host (README)."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.ansible
# the Ansible under test: this venv's, or another one (make test-ansible-el7: ansible/requirements.txt)
ANSIBLE_BIN = Path(os.environ.get("PFT_ANSIBLE_BIN") or Path(sys.executable).parent)
ANSIBLE = ROOT / "ansible"
ROLE = ANSIBLE / "roles" / "docker_host"
FIXTURES = ROOT / "tests" / "fixtures" / "docker-units"
DEBIAN_UNIT = Path("/lib/systemd/system/docker.service")  # Debian docker.io, installed here


@dataclass(frozen=True)
class Case:
    vars_file: str
    install_from: str
    unit: Path
    sysconfig: Path | None = None


CASES = {
    "debian-docker.io": Case("Debian.yml", "distribution", DEBIAN_UNIT),
    "debian-docker-ce": Case("Debian.yml", "docker", FIXTURES / "docker-ce.service"),
    "el7-docker-1.13": Case("RedHat-7.yml", "distribution", FIXTURES / "centos7-docker.service",
                            FIXTURES / "centos7-sysconfig-docker"),
    "el7-docker-ce": Case("RedHat-7.yml", "docker", FIXTURES / "docker-ce.service"),
    "el9-docker-ce": Case("RedHat.yml", "docker", FIXTURES / "docker-ce.service"),
}  # fmt: skip
# the drop-in an earlier version of the role wrote everywhere: a host that has it must lose it
STALE_DROPIN = "[Service]\nExecStart=\nExecStart=/usr/bin/dockerd --containerd=/run/containerd/containerd.sock\n"
# dockerd's flags whose daemon.json key is not the flag's own name
FLAG_KEYS = {
    "H": "hosts",
    "host": "hosts",
    "log-opt": "log-opts",
    "exec-opt": "exec-opts",
    "add-runtime": "runtimes",
    "storage-opt": "storage-opts",
    "label": "labels",
    "insecure-registry": "insecure-registries",
    "registry-mirror": "registry-mirrors",
    "default-ulimit": "default-ulimits",
    "G": "group",
    "D": "debug",
    "l": "log-level",
    "p": "pidfile",
    "s": "storage-driver",
}


def unit_entries(text: str) -> list[tuple[str, str, str]]:
    """(section, key, value) of a unit file, continuation lines joined, comments dropped."""
    entries, section, pending = [], "", ""
    for raw in text.splitlines():
        line = pending + raw.strip() if pending else raw.strip()
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        entries.append((section, key.strip(), value.strip()))
    return entries


def exec_start(unit: str, dropins: list[str]) -> list[str]:
    """The ExecStart systemd ends up with: an empty assignment in a drop-in resets the list."""
    values: list[str] = []
    for text in [unit, *dropins]:
        for section, key, value in unit_entries(text):
            if section == "Service" and key == "ExecStart":
                values = [] if value == "" else [*values, value]
    assert len(values) == 1, values
    return [values[0]]


def environment(unit: str, root: Path) -> dict[str, str]:
    """The variables the unit's EnvironmentFile= lines give dockerd (files under the scratch root)."""
    env: dict[str, str] = {}
    for section, key, value in unit_entries(unit):
        if section != "Service" or key != "EnvironmentFile":
            continue
        path = root / value.lstrip("-").lstrip("/")
        if not path.exists():
            continue
        for line in path.read_text().splitlines():
            m = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)", line.strip())
            if m:
                env[m.group(1)] = " ".join(shlex.split(m.group(2)))
    return env


def words(command: str, env: dict[str, str]) -> list[str]:
    """systemd's expansion: an unquoted $VAR becomes the variable's words, unknown ones none."""
    out: list[str] = []
    for word in shlex.split(command):
        m = re.fullmatch(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", word)
        out.extend(env.get(m.group(1), "").split() if m else [word])
    return out


def flags(argv: list[str]) -> list[str]:
    return [a.lstrip("-").split("=")[0] for a in argv[1:] if a.startswith("-")]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One ansible-playbook run of tasks/daemon.yml per case, each into its own scratch root."""
    base = tmp_path_factory.mktemp("units")
    plays, roots = [], {}
    for name, case in CASES.items():
        root = roots[name] = base / name
        (root / "etc" / "docker").mkdir(parents=True)
        (root / "etc" / "sysconfig").mkdir(parents=True)
        dropins = root / "etc" / "systemd" / "system" / "docker.service.d"
        dropins.mkdir(parents=True)
        (dropins / "pollerfleet-hosts.conf").write_text(STALE_DROPIN)
        if case.sysconfig:
            shutil.copy(case.sysconfig, root / "etc" / "sysconfig" / "docker")
        plays.append(
            {
                "name": name,
                "hosts": "localhost",
                "gather_facts": False,
                "vars_files": [str(ROLE / "vars" / case.vars_file)],
                "vars": {
                    "docker_host_install_from": case.install_from,
                    "docker_host_daemon_json": str(root / "etc" / "docker" / "daemon.json"),
                    "docker_host_systemd_dir": str(root / "etc" / "systemd" / "system"),
                    "docker_host_sysconfig_file": str(root / "etc" / "sysconfig" / "docker"),
                    "docker_host_manage_services": False,
                },
                "tasks": [
                    {
                        "name": "Render the daemon's configuration",
                        "ansible.builtin.include_role": {"name": "docker_host", "tasks_from": "daemon.yml"},
                    }
                ],
            }
        )
    playbook = base / "render.yml"
    playbook.write_text(json.dumps(plays))
    proc = subprocess.run(
        [str(ANSIBLE_BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local",
         "-e", f"ansible_python_interpreter={sys.executable}", str(playbook)],
        capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "ANSIBLE_CONFIG": str(ANSIBLE / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    return roots


@pytest.mark.parametrize("name", CASES)
def test_dockerd_starts_as_the_package_means_it_and_listens_where_daemon_json_says(
    rendered: dict[str, Path], name: str
) -> None:
    case, root = CASES[name], rendered[name]
    unit = case.unit.read_text()
    dropin_dir = root / "etc" / "systemd" / "system" / "docker.service.d"
    dropins = [p.read_text() for p in sorted(dropin_dir.glob("*.conf"))]
    env = environment(unit, root)
    packaged = words(exec_start(unit, [])[0], environment(unit, Path("/nonexistent")))
    effective = words(exec_start(unit, dropins)[0], env)
    daemon_json = json.loads((root / "etc" / "docker" / "daemon.json").read_text())

    assert effective[0] == packaged[0], f"the drop-in runs {effective[0]}, the package installs {packaged[0]}"
    if case.unit == DEBIAN_UNIT:
        assert os.access(effective[0], os.X_OK)  # this machine has the package: its binary is there
    kept = [a for a in packaged[1:] if a not in ("-H", "fd://")]
    missing = [a for a in kept if a not in effective]
    assert not missing, f"the package's own flags are gone: {missing}"
    assert "H" not in flags(effective) and "host" not in flags(effective)
    assert "tcp://0.0.0.0:2376" in daemon_json["hosts"] and daemon_json["tlsverify"] is True
    both = [f for f in flags(effective) if FLAG_KEYS.get(f, f) in daemon_json]
    assert not both, f"dockerd refuses a directive given as a flag and in daemon.json: {both}"


@pytest.mark.parametrize("name", CASES)
def test_systemd_reads_the_unit_with_the_drop_in(rendered: dict[str, Path], name: str, tmp_path: Path) -> None:
    """`systemd-analyze verify` on the packaged unit plus the role's drop-in, in a root that holds what
    the package installs (its unit, the programs its Exec lines name) and stubs of the units it names."""
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed")
    case, root = CASES[name], rendered[name]
    unit = case.unit.read_text()
    vroot = tmp_path / "root"
    units = vroot / "usr" / "lib" / "systemd" / "system"
    units.mkdir(parents=True)
    (units / "docker.service").write_text(unit)
    for system_unit in Path("/usr/lib/systemd/system").glob("*.[ts][al][ri][gc]*"):  # targets, slices
        if system_unit.suffix in (".target", ".slice") and system_unit.is_file():
            shutil.copy(system_unit, units)
    true = vroot / "bin" / "true"
    true.parent.mkdir(parents=True)
    true.write_text("#!/bin/sh\n")
    true.chmod(0o755)
    shutil.copytree(root / "etc" / "systemd", vroot / "etc" / "systemd")
    for section, key, value in unit_entries(unit):
        if section == "Unit" and key in ("After", "Wants", "Requires"):
            for other in value.split():
                if other != "docker.service" and not (units / other).exists():
                    kind = other.rsplit(".", 1)[1]
                    body = {
                        "socket": "[Socket]\nListenStream=/run/x.sock\n",
                        "timer": "[Timer]\nOnCalendar=daily\n",
                        "service": "[Service]\nExecStart=/bin/true\n",
                    }
                    (units / other).write_text("[Unit]\nDescription=stub\n" + body.get(kind, ""))
        if section == "Service" and key.startswith("Exec"):
            program = vroot / value.lstrip("-@!+").split()[0].lstrip("/")
            program.parent.mkdir(parents=True, exist_ok=True)
            program.write_text("#!/bin/sh\n")
            program.chmod(0o755)
    proc = subprocess.run(
        ["systemd-analyze", "verify", f"--root={vroot}", "docker.service"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    problems = [line for line in (proc.stdout + proc.stderr).splitlines() if "docker.service" in line]
    assert proc.returncode == 0 and not problems, proc.stdout + proc.stderr


def test_el7_docker_keeps_its_sysconfig_but_not_the_log_driver(rendered: dict[str, Path]) -> None:
    sysconfig = (rendered["el7-docker-1.13"] / "etc" / "sysconfig" / "docker").read_text()
    assert "OPTIONS='--selinux-enabled --signature-verification=false'\n" in sysconfig
    assert "journald" not in sysconfig and "DOCKER_CERT_PATH=/etc/docker" in sysconfig  # the rest untouched
    assert not (rendered["el7-docker-1.13"] / "etc/systemd/system/docker.service.d/pollerfleet-hosts.conf").exists()
