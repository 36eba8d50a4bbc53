"""deploy_poller.yml for real against the test daemon (connection local, community.docker from
the PyPI ansible package): rollout, retention kept, idempotence, vmware on/off, health-gated
rollback. The shared network is `internal` here; nothing sends traffic to a container address."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import ROOT, Docker
from tests.registry_tools import build_and_push

pytestmark = [pytest.mark.docker, pytest.mark.ansible, pytest.mark.slow]
ANSIBLE = ROOT / "ansible"


@dataclass
class Play:
    rc: int
    out: str

    @property
    def recap(self) -> dict[str, int]:
        m = re.search(r"ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", self.out)
        assert m, self.out[-2000:]
        return dict(zip(("ok", "changed", "unreachable", "failed"), map(int, m.groups())))


@dataclass
class Poller:
    docker: Docker
    tmp: Path
    host: str
    repo: str

    def inventory(self, tag: str, vmware: bool) -> Path:
        p = self.tmp / "inventory.yml"
        prefix = self.docker.prefix
        hostvars = {
            "ansible_connection": "local",
            "ansible_python_interpreter": "{{ ansible_playbook_python }}",
            "ansible_become": False,
            "poller_central_host": "central.invalid",
            "poller_image_repository": self.repo,
            "poller_image_tag": tag,
            "poller_vmware_enabled": vmware,
            "poller_vmware_image": f"{self.repo}:vmware",
            "centreon_poller_docker_host": self.docker.host,
            "centreon_poller_image_pull": False,
            "centreon_poller_base_dir": str(self.tmp / "srv"),
            "centreon_poller_uid": os.getuid(),
            "centreon_poller_gid": os.getgid(),
            "centreon_poller_network": f"{prefix}poller-net",
            "centreon_poller_network_internal": True,
            "centreon_poller_engine_name": f"{prefix}centreon-engine",
            "centreon_poller_vmware_name": f"{prefix}centreon-vmware",
            "centreon_poller_health_retries": 15,
            "centreon_poller_health_delay": 1,
        }
        p.write_text(json.dumps({"all": {"children": {"pollers": {"hosts": {self.host: hostvars}}}}}))
        return p

    def deploy(self, tag: str, vmware: bool = True) -> Play:
        proc = subprocess.run(
            [
                str(Path(sys.executable).parent / "ansible-playbook"),
                "-i",
                str(self.inventory(tag, vmware)),
                str(ANSIBLE / "deploy_poller.yml"),
                "--limit",
                self.host,
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            env={
                **os.environ,
                "ANSIBLE_CONFIG": str(ANSIBLE / "ansible.cfg"),
                "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_LOCALHOST_WARNING": "0",
            },
        )
        return Play(proc.returncode, proc.stdout + proc.stderr)

    def image_of(self, name: str) -> str:
        return self.docker.state(self.docker.name(name), "{{.Config.Image}}")


@pytest.fixture(scope="module")
def poller(docker: Docker, registry: str, tmp_path_factory: pytest.TempPathFactory) -> Poller:
    repo = f"{registry}/{docker.prefix.rstrip('-')}/ansible-engine"
    build_and_push(docker, f"{repo}:19.04.1", "19.04.1", nonce="a", healthcheck="true", push=False)
    build_and_push(docker, f"{repo}:19.04.5", "19.04.5", nonce="b", healthcheck="true", push=False)
    build_and_push(docker, f"{repo}:19.04.6", "19.04.6", nonce="broken", healthcheck="false", push=False)
    build_and_push(docker, f"{repo}:vmware", "3.2.1", nonce="vmware", push=False)
    return Poller(docker, tmp_path_factory.mktemp("ansible"), "pftest01", repo)


def test_rollout_keeps_retention_is_idempotent_and_rolls_back(poller: Poller) -> None:
    d = poller.docker
    # 1. deploy A with vmware on
    play = poller.deploy("19.04.1", vmware=True)
    assert play.rc == 0, play.out[-3000:]
    assert poller.image_of("centreon-engine") == f"{poller.repo}:19.04.1"
    assert d.state(d.name("centreon-vmware")) == "running"
    nets = d.state(d.name("centreon-vmware"), "{{json .NetworkSettings.Networks}}")
    assert f"{d.prefix}poller-net" in nets
    assert d("network", "inspect", "-f", "{{.Internal}}", f"{d.prefix}poller-net") == "true"

    # 2. the engine writes retention and has its configuration on the host mounts
    srv = poller.tmp / "srv"
    retention = srv / "retention" / "retention.dat"
    retention.write_bytes(b"# retention marker\nservicestatus {\n current_state=0\n}\n" + os.urandom(64))
    (srv / "etc" / "centengine.cfg").write_text("cfg_dir=/etc/centreon-engine/conf.d\n")
    before = retention.read_bytes()
    d("exec", d.name("centreon-engine"), "test", "-s", "/var/lib/centreon-engine/retention.dat")

    # 3. deploy B: replaced, retention byte-identical, config intact
    old_id = d.state(d.name("centreon-engine"), "{{.Id}}")
    play = poller.deploy("19.04.5", vmware=True)
    assert play.rc == 0, play.out[-3000:]
    assert poller.image_of("centreon-engine") == f"{poller.repo}:19.04.5"
    assert d.state(d.name("centreon-engine"), "{{.Id}}") != old_id
    assert retention.read_bytes() == before
    assert (srv / "etc" / "centengine.cfg").read_text() == "cfg_dir=/etc/centreon-engine/conf.d\n"
    assert d("exec", d.name("centreon-engine"), "cat", "/etc/centreon-engine/centengine.cfg").startswith("cfg_dir=")

    # 4. a second identical run changes nothing
    play = poller.deploy("19.04.5", vmware=True)
    assert play.rc == 0 and play.recap["changed"] == 0, play.out[-3000:]

    # 5. vmware off: its container is removed
    play = poller.deploy("19.04.5", vmware=False)
    assert play.rc == 0, play.out[-3000:]
    assert d("ps", "-aq", "--filter", f"name=^/{d.name('centreon-vmware')}$") == ""

    # 6. an image whose health check fails: the previous image runs again, the play fails and says why
    play = poller.deploy("19.04.6", vmware=False)
    assert play.rc != 0 and play.recap["failed"] == 1
    assert re.search(rf"did not become healthy with\s+{re.escape(poller.repo)}:19.04.6", play.out), play.out[-3000:]
    assert re.search(r"state: running,\s+health: unhealthy", play.out), play.out[-3000:]
    # `unhealthy` is a verdict: the wait ends there, not after all 15 retries
    retries = re.findall(r"FAILED - RETRYING: .*health verdict \((\d+) retries left\)", play.out)
    assert len(retries) < 10, play.out[-3000:]
    assert f"the previous image {poller.repo}:19.04.5 runs again" in play.out
    assert poller.image_of("centreon-engine") == f"{poller.repo}:19.04.5"
    assert d.state(d.name("centreon-engine")) == "running"
    assert retention.read_bytes() == before
