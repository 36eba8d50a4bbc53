"""The seed: "it is required to reinitialize the vmware docker container if we want to update the
configuration". deploy_poller.yml recreates the connector when its configuration repository moved
on (a real git repository, read with git ls-remote), or when asked (poller_vmware_refresh, the deploy
job's REFRESH_VMWARE); otherwise it leaves it alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.helpers import ROOT, Docker
from tests.registry_tools import build_and_push

pytestmark = [pytest.mark.docker, pytest.mark.registry, pytest.mark.ansible, pytest.mark.slow]
# the Ansible under test: this venv's, or another one (make test-ansible-el7: ansible/requirements.txt)
ANSIBLE_BIN = Path(os.environ.get("PFT_ANSIBLE_BIN") or Path(sys.executable).parent)
GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.invalid",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.invalid",
}


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True, env={**os.environ, **GIT_ENV}
    ).stdout.strip()


@dataclass
class Host:
    docker: Docker
    tmp: Path
    engine: str
    work: Path  # a clone the "operator" commits to
    bare: Path
    repo_url: str = ""
    extra_vars: dict[str, str] = field(default_factory=dict)

    def deploy(self, *extra: str) -> subprocess.CompletedProcess[str]:
        d = self.docker
        hostvars = {
            "ansible_connection": "local",
            "ansible_python_interpreter": "{{ ansible_playbook_python }}",
            "ansible_become": False,
            "poller_central_host": "central.invalid",
            "poller_image_repository": self.engine.split("@")[0].rsplit(":", 1)[0],
            "poller_vmware_enabled": True,
            "poller_vmware_image": self.engine.split("@")[0].rsplit(":", 1)[0] + ":vmware",
            "poller_vmware_config_repo": self.repo_url or f"file://{self.bare}",
            "centreon_poller_docker_host": d.host,
            "centreon_poller_base_dir": str(self.tmp / "srv"),
            "centreon_poller_uid": os.getuid(),
            "centreon_poller_gid": os.getgid(),
            "centreon_poller_network": d.name("refresh-net"),
            "centreon_poller_network_internal": True,
            "centreon_poller_sshd_port": "",
            "centreon_poller_engine_name": d.name("refresh-engine"),
            "centreon_poller_vmware_name": d.name("refresh-vmware"),
            "centreon_poller_health_retries": 15,
            "centreon_poller_health_delay": 1,
            **self.extra_vars,
        }
        inventory = self.tmp / "inventory.json"
        inventory.write_text(json.dumps({"all": {"children": {"pollers": {"hosts": {"refresh01": hostvars}}}}}))
        return subprocess.run(
            [
                str(ANSIBLE_BIN / "ansible-playbook"),
                "-i",
                str(inventory),
                str(ROOT / "ansible" / "deploy_poller.yml"),
                "-e",
                f"poller_image={self.engine}",
                *extra,
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            env={**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible" / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"},
        )

    def connector(self) -> tuple[str, str, str]:
        """The connector's container id, the commit its label names and the one its env passes."""
        name = self.docker.name("refresh-vmware")
        labels = json.loads(self.docker.state(name, "{{json .Config.Labels}}"))
        env = dict(e.split("=", 1) for e in json.loads(self.docker.state(name, "{{json .Config.Env}}")))
        return (
            self.docker.state(name, "{{.Id}}"),
            labels.get("org.centreon.pollerfleet.vmware-config", ""),
            env.get("VMWARE_CONFIG_COMMIT", ""),
        )


@pytest.fixture
def host(docker: Docker, registry: str, tmp_path: Path) -> Host:
    repo = f"{registry}/{docker.prefix.rstrip('-')}/refresh-engine"
    ref = build_and_push(docker, f"{repo}:19.04.1", "19.04.1", nonce="refresh", healthcheck="true")
    build_and_push(docker, f"{repo}:vmware", "3.2.1", nonce="vmware", push=False)
    digest = json.loads(docker("image", "inspect", "-f", "{{json .RepoDigests}}", ref))[-1].split("@")[1]
    work = tmp_path / "work"
    work.mkdir()
    git("init", "-q", "-b", "main", cwd=work)
    (work / "refresh01.pm").write_text("%Centreon_Vmware_Config = (generation => 1);\n")
    git("add", ".", cwd=work)
    git("commit", "-q", "-m", "generation 1", cwd=work)
    bare = tmp_path / "vmware-config.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)
    h = Host(docker, tmp_path, f"{ref}@{digest}", work, bare)
    yield h
    docker("rm", "-f", docker.name("refresh-engine"), docker.name("refresh-vmware"), check=False)
    docker("network", "rm", docker.name("refresh-net"), check=False)


def test_the_connector_is_recreated_when_its_configuration_moved_on_or_when_asked(host: Host) -> None:
    play = host.deploy()
    assert play.returncode == 0, play.stdout[-3000:]
    first_id, label, env = host.connector()
    head = git("rev-parse", "HEAD", cwd=host.work)
    assert label == env == head  # the connector deploys exactly the commit the role saw

    play = host.deploy()  # nothing moved: left alone
    assert play.returncode == 0, play.stdout[-3000:]
    assert host.connector()[0] == first_id

    (host.work / "refresh01.pm").write_text("%Centreon_Vmware_Config = (generation => 2);\n")
    git("commit", "-q", "-am", "generation 2", cwd=host.work)
    git("push", "-q", str(host.bare), "main", cwd=host.work)
    play = host.deploy()
    assert play.returncode == 0, play.stdout[-3000:]
    second_id, label, env = host.connector()
    assert second_id != first_id
    assert label == env == git("rev-parse", "HEAD", cwd=host.work) != head

    play = host.deploy("-e", "poller_vmware_refresh=true")  # asked: recreated although nothing moved
    assert play.returncode == 0, play.stdout[-3000:]
    assert host.connector()[0] != second_id


def test_a_repository_name_git_would_read_as_an_option_is_refused(host: Host) -> None:
    host.repo_url = f"--upload-pack=touch {host.tmp}/pwned"
    play = host.deploy()
    assert play.returncode != 0
    assert "is not a repository URL and a branch or tag name" in play.stdout, play.stdout[-3000:]
    assert not (host.tmp / "pwned").exists()
    # refused before anything was touched
    assert host.docker("ps", "-aq", "--filter", f"name=^/{host.docker.name('refresh-engine')}$") == ""


def test_a_private_repository_credential_is_a_root_only_file_mounted_read_only(host: Host) -> None:
    key = host.tmp / "deploy-key"
    key.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nnot-a-real-key-s3cret\n-----END OPENSSH PRIVATE KEY-----\n")
    known = host.tmp / "known_hosts"
    known.write_text("git.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample\n")
    host.extra_vars = {
        "poller_vmware_config_ssh_key_file": str(key),
        "poller_vmware_config_known_hosts_file": str(known),
    }
    play = host.deploy("--diff")
    assert play.returncode == 0, play.stdout[-3000:]
    assert "s3cret" not in play.stdout + play.stderr
    name = host.docker.name("refresh-vmware")
    env = dict(e.split("=", 1) for e in json.loads(host.docker.state(name, "{{json .Config.Env}}")))
    assert env["VMWARE_CONFIG_SSH_KEY_FILE"] == "/run/secrets/vmware-config/deploy-key"
    assert env["VMWARE_CONFIG_KNOWN_HOSTS_FILE"] == "/run/secrets/vmware-config/known_hosts"
    assert not any("s3cret" in v for v in env.values())
    mounts = json.loads(host.docker.state(name, "{{json .Mounts}}"))
    secrets = [m for m in mounts if m["Destination"] == "/run/secrets/vmware-config"]
    assert len(secrets) == 1 and secrets[0]["RW"] is False
    stored = Path(secrets[0]["Source"]) / "deploy-key"
    assert stored.read_text() == key.read_text() and oct(stored.stat().st_mode & 0o777) == "0o400"
    assert host.docker("exec", name, "cat", "/run/secrets/vmware-config/deploy-key").startswith("-----BEGIN")

    # a deploy key without the host's key is refused before anything runs
    host.extra_vars = {"poller_vmware_config_ssh_key_file": str(key)}
    play = host.deploy()
    assert play.returncode != 0 and "needs poller_vmware_config_known_hosts_file" in play.stdout
