"""deploy_poller.yml for real against the test daemon (connection local, community.docker from
the PyPI ansible package): rollout, retention kept, idempotence, vmware on/off, health-gated
rollback. The shared network is `internal` here; nothing sends traffic to a container address."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import ROOT, Docker
from tests.registry_tools import build_and_push

pytestmark = [pytest.mark.docker, pytest.mark.ansible, pytest.mark.slow]
ANSIBLE = ROOT / "ansible"
CALLBACKS = ROOT / "tests" / "fixtures" / "ansible-callbacks"


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

    def deploy(self, image: str, vmware: bool = True, **env: str) -> Play:
        """Run the play; ENV adds to its environment (the kill_at_task callback's settings).
        In a session of its own: the callback signals the play's whole process group."""
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
                "ANSIBLE_CALLBACK_PLUGINS": str(CALLBACKS),
                "ANSIBLE_CALLBACKS_ENABLED": "kill_at_task",
                **env,
            },
            start_new_session=True,
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


def _engines(d: Docker) -> dict[str, tuple[str, str]]:
    """The engine container and its temporary names: name -> (state, image reference)."""
    out = {}
    for name in (d.name("centreon-engine"), *(d.name(f"centreon-engine-pollerfleet-{x}") for x in ("new", "old"))):
        seen = d("inspect", "-f", "{{.State.Status}} {{.Config.Image}}", name, check=False)
        if seen:
            state, _, image = seen.partition(" ")
            out[name] = (state, image)
    return out


def _settled(poller: Poller) -> dict[str, tuple[str, str]]:
    """The containers once the detached step a stopped play started has finished: the lock is free
    and nothing changes for 3 s (the step may not have taken the lock yet when the play died)."""
    last: dict[str, tuple[str, str]] = {}
    stable_since = time.monotonic()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        now = _engines(poller.docker) if _swap_idle(poller) else {"busy": ("", "")}
        if now != last:
            last, stable_since = now, time.monotonic()
        elif time.monotonic() - stable_since >= 3 and "busy" not in now:
            return now
        time.sleep(0.5)
    raise AssertionError(f"the host's containers did not settle: {last}")


def _swap_idle(poller: Poller) -> bool:
    """The detached swap step a stopped play left has finished (it holds this lock while it runs)."""
    lock = poller.tmp / "srv" / "libexec" / f"{poller.docker.name('centreon-engine')}.lock"
    return not lock.exists() or subprocess.run(["flock", "-n", str(lock), "true"], check=False).returncode == 0


@pytest.mark.parametrize("signal", ["KILL", "TERM"])
def test_a_deploy_stopped_at_any_task_leaves_a_poller_running(poller: Poller, signal: str) -> None:
    """Kill the play (its whole process group) at each task of the role in turn: the host runs the
    old or the new engine container, and the next deploy finishes the job."""
    d = poller.docker
    engine = d.name("centreon-engine")
    images = [poller.push("19.04.2", f"kill-{signal}-a"), poller.push("19.04.3", f"kill-{signal}-b")]
    assert poller.deploy(images[0], vmware=False).rc == 0
    log = poller.tmp / f"tasks-{signal}"
    log.unlink(missing_ok=True)
    play = poller.deploy(images[1], vmware=False, PFT_TASK_LOG=str(log))  # learn the role's tasks
    assert play.rc == 0, play.out[-3000:]
    tasks = log.read_text().splitlines()
    assert any("detached" in t for t in tasks), tasks
    current = 1
    # SIGKILL as each task starts; SIGTERM a moment into each task on the engine container (mid-task:
    # a docker stop, the health wait), which is where a stop could cut a step in half
    delay = "0" if signal == "KILL" else "0.7"
    for n, task in enumerate(tasks, start=1):
        if signal == "TERM" and "engine container" not in task:
            continue
        target = 1 - current
        play = poller.deploy(
            images[target], vmware=False, PFT_KILL_AT=str(n), PFT_KILL_SIGNAL=signal, PFT_KILL_DELAY=delay
        )
        assert play.rc != 0, f"task {n} ({task}): the play was not stopped\n" + play.out[-2000:]
        engines = _settled(poller)
        running = [name for name, (state, _) in engines.items() if state == "running"]
        assert running == [engine], f"stopped at task {n} ({task}): {engines}"
        assert engines[engine][1] in (images[current], images[target]), f"stopped at task {n} ({task}): {engines}"

        play = poller.deploy(images[target], vmware=False)
        assert play.rc == 0, f"after a stop at task {n} ({task}):\n" + play.out[-3000:]
        assert _engines(d) == {engine: ("running", images[target])}, f"after a stop at task {n} ({task})"
        assert d.state(engine, "{{.State.Health.Status}}") == "healthy"
        current = target
