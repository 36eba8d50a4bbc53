"""deploy_poller.yml for real against the test daemon (connection local, community.docker from
the PyPI ansible package): rollout, retention kept, idempotence, vmware on/off, health-gated
rollback. The shared network is `internal` here; nothing sends traffic to a container address."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
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

    def inventory(self, vmware: bool) -> Path:
        p = self.tmp / "inventory.yml"
        prefix = self.docker.prefix
        hostvars = {
            "ansible_connection": "local",
            "ansible_python_interpreter": "{{ ansible_playbook_python }}",
            "ansible_become": False,
            "poller_central_host": "central.invalid",
            "poller_image_repository": self.repo,
            "poller_vmware_enabled": vmware,
            "poller_vmware_image": f"{self.repo}:vmware",
            "centreon_poller_docker_host": self.docker.host,
            "centreon_poller_base_dir": str(self.tmp / "srv"),
            "centreon_poller_uid": os.getuid(),
            "centreon_poller_gid": os.getgid(),
            "centreon_poller_network": f"{prefix}poller-net",
            "centreon_poller_network_internal": True,
            "centreon_poller_sshd_port": "",  # nothing listens beyond loopback
            "centreon_poller_engine_name": f"{prefix}centreon-engine",
            "centreon_poller_vmware_name": f"{prefix}centreon-vmware",
            "centreon_poller_health_retries": 15,
            "centreon_poller_health_delay": 1,
        }
        p.write_text(json.dumps({"all": {"children": {"pollers": {"hosts": {self.host: hostvars}}}}}))
        return p

    def deploy(self, image: str, vmware: bool = True) -> Play:
        proc = subprocess.run(
            [
                str(Path(sys.executable).parent / "ansible-playbook"),
                "-i",
                str(self.inventory(vmware)),
                str(ANSIBLE / "deploy_poller.yml"),
                "--limit",
                self.host,
                "-e",
                f"poller_image={image}",
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

    def push(self, tag: str, nonce: str, healthcheck: str = "true") -> str:
        """Build and push REPO:TAG; return REPO:TAG@DIGEST as the registry serves it now."""
        ref = build_and_push(self.docker, f"{self.repo}:{tag}", tag, nonce=nonce, healthcheck=healthcheck)
        digests = self.docker("image", "inspect", "-f", "{{json .RepoDigests}}", ref)
        return f"{ref}@{json.loads(digests)[-1].split('@')[1]}"


@pytest.fixture(scope="module")
def poller(docker: Docker, registry: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Poller]:
    repo = f"{registry}/{docker.prefix.rstrip('-')}/ansible-engine"
    build_and_push(docker, f"{repo}:vmware", "3.2.1", nonce="vmware")
    yield Poller(docker, tmp_path_factory.mktemp("ansible"), "pftest01", repo)
    # the network outlives the session's containers otherwise, and a daemon has only so many address pools
    docker("rm", "-f", docker.name("centreon-engine"), docker.name("centreon-vmware"), check=False)
    docker("network", "rm", f"{docker.prefix}poller-net", check=False)


def test_rollout_keeps_retention_is_idempotent_and_rolls_back(poller: Poller) -> None:
    d = poller.docker
    a = poller.push("19.04.1", "a")
    b = poller.push("19.04.5", "b")
    # 1. deploy A with vmware on
    play = poller.deploy(a, vmware=True)
    assert play.rc == 0, play.out[-3000:]
    assert poller.image_of("centreon-engine") == a
    assert d.state(d.name("centreon-vmware")) == "running"
    nets = d.state(d.name("centreon-vmware"), "{{json .NetworkSettings.Networks}}")
    assert f"{d.prefix}poller-net" in nets
    assert d("network", "inspect", "-f", "{{.Internal}}", f"{d.prefix}poller-net") == "true"

    # 2. the engine writes retention and has its configuration on the host mounts
    srv = poller.tmp / "srv"
    retention = srv / "log" / "retention.dat"  # 19.04's state_retention_file, on the log mount
    retention.write_bytes(b"# retention marker\nservicestatus {\n current_state=0\n}\n" + os.urandom(64))
    (srv / "etc" / "centengine.cfg").write_text("cfg_dir=/etc/centreon-engine/conf.d\n")
    before = retention.read_bytes()
    d("exec", d.name("centreon-engine"), "test", "-s", "/var/log/centreon-engine/retention.dat")
    # cbmod's failover queue: results the central has not received yet
    queue = srv / "broker" / "central-module-master.queue.central-module-master-output"
    queue.write_bytes(b"undelivered results\n")
    d("exec", d.name("centreon-engine"), "test", "-s", f"/var/lib/centreon-broker/{queue.name}")

    # 3. deploy B: replaced, retention byte-identical, config intact
    old_id = d.state(d.name("centreon-engine"), "{{.Id}}")
    play = poller.deploy(b, vmware=True)
    assert play.rc == 0, play.out[-3000:]
    assert poller.image_of("centreon-engine") == b
    assert d.state(d.name("centreon-engine"), "{{.Id}}") != old_id
    assert retention.read_bytes() == before
    assert queue.read_bytes() == b"undelivered results\n"
    d("exec", d.name("centreon-engine"), "test", "-s", f"/var/lib/centreon-broker/{queue.name}")
    assert (srv / "etc" / "centengine.cfg").read_text() == "cfg_dir=/etc/centreon-engine/conf.d\n"
    assert d("exec", d.name("centreon-engine"), "cat", "/etc/centreon-engine/centengine.cfg").startswith("cfg_dir=")

    # 4. a second identical run changes nothing
    play = poller.deploy(b, vmware=True)
    assert play.rc == 0 and play.recap["changed"] == 0, play.out[-3000:]

    # 5. vmware off: its container is removed
    play = poller.deploy(b, vmware=False)
    assert play.rc == 0, play.out[-3000:]
    assert d("ps", "-aq", "--filter", f"name=^/{d.name('centreon-vmware')}$") == ""

    # 6. 19.04.5 rebuilt under the same tag, and the daemon only has the old one: the role pulls the
    #    new digest from the registry and runs exactly it
    b2 = poller.push("19.04.5", "b2")
    b2_id = d("image", "inspect", "-f", "{{.Id}}", b2.split("@")[0])
    d("rmi", "-f", b2_id)
    play = poller.deploy(b2, vmware=False)
    assert play.rc == 0, play.out[-3000:]
    assert poller.image_of("centreon-engine") == b2
    assert d.state(d.name("centreon-engine"), "{{.Image}}") == b2_id

    # 7. an image whose health check fails, while the running tag was pushed again elsewhere: the
    #    previous image goes back by ID (not by its moved tag), the play fails and says why
    broken = poller.push("19.04.6", "broken", healthcheck="false")
    poller.push("19.04.5", "b3")  # 19.04.5 now names another image
    play = poller.deploy(broken, vmware=False)
    assert play.rc != 0 and play.recap["failed"] == 1
    assert re.search(rf"did not become healthy with\s+{re.escape(broken)}", play.out), play.out[-3000:]
    assert re.search(r"state: running,\s+health: unhealthy", play.out), play.out[-3000:]
    # `unhealthy` is a verdict: the wait ends there, not after all 15 retries
    retries = re.findall(r"FAILED - RETRYING: .*health verdict \((\d+) retries left\)", play.out)
    assert len(retries) < 10, play.out[-3000:]
    assert re.search(rf"the previous image\s+{re.escape(b2)}", play.out), play.out[-3000:]
    assert d.state(d.name("centreon-engine"), "{{.Image}}") == b2_id
    assert d.state(d.name("centreon-engine")) == "running"
    assert retention.read_bytes() == before


@pytest.mark.parametrize(
    "image",
    [
        "other.example:5000/centreon/centreon-engine:19.04.5@sha256:" + "a" * 64,  # another repository
        "{repo}:latest@sha256:" + "a" * 64,  # not a release tag
        "{repo}:19.04.5@sha256:" + "a" * 63,  # malformed digest
        "{repo}:19.04.5",  # no digest: a tag can move
        "",  # nothing given
    ],
)
def test_the_role_refuses_anything_but_an_exact_release_of_the_hosts_repository(poller: Poller, image: str) -> None:
    d = poller.docker
    before = (
        d.state(d.name("centreon-engine"), "{{.Id}}")
        if d("ps", "-aq", "--filter", f"name=^/{d.name('centreon-engine')}$")
        else ""
    )
    play = poller.deploy(image.format(repo=poller.repo), vmware=False)
    assert play.rc != 0 and play.recap["failed"] == 1, play.out[-3000:]
    assert "refusing to deploy" in play.out, play.out[-3000:]
    after = d.state(d.name("centreon-engine"), "{{.Id}}") if before else ""
    assert after == before
