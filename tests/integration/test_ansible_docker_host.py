"""The docker_host role and the playbooks: syntax, lint at the production profile, and a
check-mode run on this machine (a real run would reconfigure its Docker and sshd)."""

from __future__ import annotations

import json
import os
import re
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT, Docker
from tests.registry_tools import build_and_push

pytestmark = pytest.mark.ansible
ANSIBLE = ROOT / "ansible"
# the Ansible under test: this venv's, or another one (make test-ansible-el7: ansible/requirements.txt)
BIN = Path(os.environ.get("PFT_ANSIBLE_BIN") or Path(sys.executable).parent)
REG = "registry.yml"
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


# --- a private registry with basic auth and a private CA: prepare, then a real rollout from it ---------


def playbook(path: Path, plays: list[dict[str, object]]) -> Path:
    path.write_text(json.dumps(plays))
    return path


def run_playbook(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "ansible-playbook"), *args],
        capture_output=True, text=True, timeout=300, check=False,
        env={**ENV, "ANSIBLE_LOCALHOST_WARNING": "0", **(env or {})},
    )  # fmt: skip


@pytest.mark.docker
@pytest.mark.registry
@pytest.mark.slow
def test_a_host_pulls_from_an_authenticated_registry_behind_a_private_ca(
    docker: Docker, auth_registry: dict[str, str], tmp_path: Path
) -> None:
    address = auth_registry["address"]
    repo = f"{address}/{docker.prefix.rstrip('-')}/auth-engine"
    # the build side: an image in the authenticated registry (pushed with a login of its own)
    pusher = {**os.environ, "DOCKER_CONFIG": str(tmp_path / "pusher"), "DOCKER_HOST": docker.host}
    build_and_push(docker, f"{repo}:19.04.3", "19.04.3", nonce="auth", push=False)
    subprocess.run(["/usr/bin/docker", "login", "-u", "pollerfleet", "--password-stdin", address],
                   input=auth_registry["password"], env=pusher, check=True, capture_output=True, text=True)  # fmt: skip
    pushed = subprocess.run(["/usr/bin/docker", "push", f"{repo}:19.04.3"], env=pusher, check=True,
                            capture_output=True, text=True).stdout  # fmt: skip
    digest = re.search(r"digest: (sha256:[0-9a-f]{64})", pushed).group(1)  # type: ignore[union-attr]
    docker("rmi", f"{repo}:19.04.3")  # the host has to pull it
    image = f"{repo}:19.04.3@{digest}"

    # prepare: the role's registry tasks, CA from a variable, password from a file
    host_config = tmp_path / "root-docker" / "config.json"
    certs = tmp_path / "certs.d"
    prepare = playbook(tmp_path / "prepare.yml", [{
        "hosts": "localhost", "gather_facts": False,
        "vars": {
            "poller_image_repository": repo,  # the registry comes from it
            "docker_host_registry_ca": Path(auth_registry["ca"]).read_text(),
            "docker_host_registry_username": "pollerfleet",
            "docker_host_registry_password_file": auth_registry["password_file"],
            "docker_host_certs_dir": str(certs),
            "docker_host_docker_api": docker.host,
            "docker_host_docker_config_path": str(host_config),
        },
        "tasks": [{"name": "Registry", "ansible.builtin.include_role": {"name": "docker_host", "tasks_from": REG}}],
    }])  # fmt: skip
    local = ["-i", "localhost,", "-c", "local", "-e", f"ansible_python_interpreter={sys.executable}"]
    proc = run_playbook(*local, str(prepare))
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert auth_registry["password"] not in proc.stdout + proc.stderr
    # the CA is where dockerd reads it, and it is the one that verifies the registry
    ca = certs / address / "ca.crt"
    context = ssl.create_default_context(cafile=str(ca))
    host, port = address.split(":")
    with socket.create_connection((host, int(port)), timeout=5) as raw, context.wrap_socket(raw, server_hostname=host):
        pass
    assert address in json.loads(host_config.read_text())["auths"]

    # deploy: the real rollout pulls the image by digest with the host's login
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(json.dumps({"all": {"children": {"pollers": {"hosts": {"pfauth01": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable,  # the host's Python
        "ansible_become": False, "poller_central_host": "central.invalid", "poller_image_repository": repo,
        "poller_vmware_enabled": False, "centreon_poller_docker_host": docker.host,
        "centreon_poller_base_dir": str(tmp_path / "srv"), "centreon_poller_uid": os.getuid(),
        "centreon_poller_gid": os.getgid(), "centreon_poller_network": f"{docker.prefix}auth-net",
        "centreon_poller_network_internal": True, "centreon_poller_sshd_port": "",
        "centreon_poller_engine_name": f"{docker.prefix}auth-engine", "centreon_poller_health_retries": 15,
        "centreon_poller_health_delay": 1,
    }}}}}}))  # fmt: skip
    deploy = ["-i", str(inventory), str(ANSIBLE / "deploy_poller.yml"), "-e", f"poller_image={image}"]
    try:
        anonymous = run_playbook(*deploy, env={"DOCKER_CONFIG": str(tmp_path / "nobody")})
        # no login, no pull
        assert anonymous.returncode != 0 and "Pull the engine image" in anonymous.stdout, anonymous.stdout[-3000:]
        play = run_playbook(*deploy, env={"DOCKER_CONFIG": str(host_config.parent)})
        assert play.returncode == 0, play.stdout[-3000:]
        assert docker.state(f"{docker.prefix}auth-engine", "{{.Config.Image}}") == image
    finally:
        docker("rm", "-f", f"{docker.prefix}auth-engine", check=False)
        docker("network", "rm", f"{docker.prefix}auth-net", check=False)
