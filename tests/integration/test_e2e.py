"""End to end: a real monitoring engine (Debian's nagios4; Centreon Engine is a Nagios fork with
the same object syntax, macros and event-handler rules) runs the suite from commands/, fires the
event handler, Jenkins (the stand-in) runs the real ansible-playbook, and the poller comes back
on the new image by itself. Run alone with `make e2e`, which prints the timeline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.engine import COMMON, Engine, base_objects, define
from tests.helpers import ROOT, Docker, write_fleet_config
from tests.registry_tools import build_and_push
from tests.standins.jenkins import JenkinsStandin, Job

pytestmark = [pytest.mark.e2e, pytest.mark.docker, pytest.mark.registry, pytest.mark.ansible, pytest.mark.slow]
TOKEN = "e2e-jenkins-token"
JOB = "deploy-centreon-poller"
BIN = Path(sys.executable).parent  # the installed plugins, as $USER1$
IMAGE_SERVICE = "Poller image"


class Timeline:
    def __init__(self) -> None:
        self.start = time.monotonic()
        self.events: list[str] = []

    def __call__(self, event: str) -> None:
        line = f"t+{time.monotonic() - self.start:5.1f}s: {event}"
        self.events.append(line)
        print(line, flush=True)


def objects(docker: Docker, cfg: Path, names: dict[str, str]) -> str:
    common = {**COMMON, "notifications_enabled": 0}
    opts = f"--docker-url {docker.host} --config {cfg}"
    out = [
        base_objects(),
        define(
            "host",
            use="pf-docker-host",
            host_name="poller01",
            address="127.0.0.1",
            _DOCKEROPTIONS=opts,
            _VMWAREEXPECT="present",
            **common,
        ),
        define(
            "service",
            use="pf-poller-container",
            host_name="poller01",
            service_description="Poller container",
            _CONTAINERNAME=names["engine"],
            **common,
        ),
        define(
            "service",
            use="pf-poller-image",
            host_name="poller01",
            service_description=IMAGE_SERVICE,
            _CONTAINERNAME=names["engine"],
            _CRITICALBEHIND=0,
            _HANDLEROPTIONS=f"--config {cfg}",
            check_interval=2,
            retry_interval=1,
            max_check_attempts=2,
            **common,
        ),
        define(
            "service",
            use="pf-poller-vmware",
            host_name="poller01",
            service_description="Poller vmware",
            _VMWARECONTAINER=names["vmware"],
            _ENGINECONTAINER=names["engine"],
            _VMWARECONFIGPATH="/etc/poller-release",
            **common,
        ),
    ]
    return "\n".join(out)


def test_the_fleet_repairs_a_stale_poller(docker: Docker, registry: str, tmp_path: Path) -> None:
    say = Timeline()
    repo = f"{registry}/{docker.prefix.rstrip('-')}/e2e-engine"
    names = {"engine": docker.name("e2e-engine"), "vmware": docker.name("e2e-vmware"), "net": docker.name("e2e-net")}
    for tag, nonce in (("19.04.1", "a"), ("19.04.5", "b")):
        build_and_push(docker, f"{repo}:{tag}", tag, nonce=nonce, healthcheck="test -s /etc/poller-release")
    build_and_push(docker, f"{repo}:vmware", "3.2.1", nonce="vm", healthcheck="true")
    say("images 19.04.1 and 19.04.5 pushed to the registry")

    # the fleet: inventory (Ansible's and the suite's), config, secrets
    srv = tmp_path / "srv"
    host = {
        "ansible_connection": "local",
        "ansible_python_interpreter": "{{ ansible_playbook_python }}",
        "poller_central_host": "central.invalid",
        "poller_image_repository": repo,
        "poller_image_tag": "19.04.1",
        "poller_vmware_enabled": True,
        "poller_vmware_image": f"{repo}:vmware",
        "poller_docker_url": docker.host,
        "centreon_poller_docker_host": docker.host,
        "centreon_poller_base_dir": str(srv),
        "centreon_poller_uid": os.getuid(),
        "centreon_poller_gid": os.getgid(),
        "centreon_poller_network": names["net"],
        "centreon_poller_network_internal": True,
        "centreon_poller_engine_name": names["engine"],
        "centreon_poller_vmware_name": names["vmware"],
        "centreon_poller_health_retries": 20,
        "centreon_poller_health_delay": 1,
    }
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps({"all": {"children": {"pollers": {"hosts": {"poller01": host}}}}}))

    def write_config(jenkins_url: str) -> Path:
        return write_fleet_config(
            tmp_path,
            jenkins_url=jenkins_url,
            token=TOKEN,
            registry_address=registry,
            inventory=inventory,
            registry={"cache_ttl": 1},
            redeploy={"cooldown_minutes": 0.05},
        )

    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible" / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    playbook = [str(BIN / "ansible-playbook"), "-i", str(inventory), str(ROOT / "ansible" / "deploy_poller.yml")]
    proc = subprocess.run(playbook, capture_output=True, text=True, env=env, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:]
    say("poller01 deployed at 19.04.1 by ansible-playbook deploy_poller.yml")
    retention = srv / "retention" / "retention.dat"
    retention.write_bytes(b"retained state of 1200 services\n" + os.urandom(256))
    kept = retention.read_bytes()

    # Jenkins: the deploy job really runs the playbook for the host it is given, with the newest tag
    deploy = Job(
        JOB,
        ["HOSTNAME"],
        command=[*playbook, "--limit", "{HOSTNAME}", "-e", "poller_image_tag=19.04.5"],
        log_dir=str(tmp_path / "jenkins"),
    )
    standin = JenkinsStandin({"pollerfleet": TOKEN}, [deploy]).start()
    port = int(standin.url.rsplit(":", 1)[1].strip("/"))
    cfg = write_config(standin.url)
    engine = Engine(tmp_path / "engine", objects(docker, cfg, names), resources={"USER1": str(BIN)})
    engine.start()
    say(f"nagios4 started (pid {engine.pid}) with commands/pollerfleet-objects.cfg")
    try:
        image = lambda: engine.service("poller01", IMAGE_SERVICE)  # noqa: E731
        engine.wait(
            lambda: image().get("current_state") == "2" and image().get("state_type") == "1",
            90,
            "image service CRITICAL HARD",
        )
        say(f"engine: Poller image CRITICAL HARD: {image()['plugin_output']}")
        audit = tmp_path / "audit.log"
        engine.wait(
            lambda: len(standin.triggered(JOB)) >= 1,
            60,
            f"the event handler's deploy (audit: {audit.read_text() if audit.exists() else 'none'})",
        )
        say(f"event handler triggered {JOB} with {standin.triggered(JOB)[0]}")
        standin.wait_idle(240)
        builds = standin.builds_of(JOB)
        say(f"Jenkins {JOB} #{builds[0].number} finished: {builds[0].result} (ansible-playbook --limit poller01)")
        assert [b.result for b in builds] == ["SUCCESS"], (tmp_path / "jenkins").glob("*.log")
        assert docker.state(names["engine"], "{{.Config.Image}}") == f"{repo}:19.04.5"
        assert retention.read_bytes() == kept
        say("container replaced with 19.04.5; retention.dat byte-identical")
        engine.wait(lambda: image().get("current_state") == "0", 90, "image service OK")
        say(f"engine: Poller image OK: {image()['plugin_output']}")
        assert len(standin.triggered(JOB)) == 1  # exactly one deploy
        # a check that ran while Ansible swapped the container saw it missing or its health starting;
        # the next one must see the new container healthy
        for service in ("Poller container", "Poller vmware"):
            engine.wait(
                lambda s=service: engine.service("poller01", s).get("current_state") == "0",
                90,
                f"{service} OK",
            )
            say(f"engine: {service} OK: {engine.service('poller01', service)['plugin_output']}")
        assert engine.host("poller01").get("current_state") == "0"

        # Jenkins is down when the next release makes the image stale
        standin.stop()
        say("Jenkins down")
        build_and_push(docker, f"{repo}:19.04.6", "19.04.6", nonce="c", healthcheck="test -s /etc/poller-release")
        say("image 19.04.6 pushed")
        engine.wait(
            lambda: image().get("current_state") == "2" and image().get("state_type") == "1",
            90,
            "image service CRITICAL HARD again",
        )
        engine.wait(lambda: audit.exists() and '"action": "error"' in audit.read_text(), 60, "the handler's error")
        last = [json.loads(line) for line in audit.read_text().splitlines()][-1]
        say(f"event handler: {last['action']}: {last['reason']}")
        assert docker.state(names["engine"], "{{.Config.Image}}") == f"{repo}:19.04.5"  # nothing redeployed

        # Jenkins is back; cron runs reconcile
        deploy.command = [*playbook, "--limit", "{HOSTNAME}", "-e", "poller_image_tag=19.04.6"]
        standin.start(port)
        say("Jenkins back (its history kept, as a restarted Jenkins keeps it)")
        r = subprocess.run(
            [
                str(BIN / "pollerfleet"),
                "--config",
                str(cfg),
                "reconcile",
                "--critical-behind",
                "0",
                "-n",
                names["engine"],
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert r.returncode == 0, r.stdout + r.stderr
        say(f"pollerfleet reconcile: {r.stdout.splitlines()[0]}")
        assert "redeploy poller01: triggered" in r.stdout
        standin.wait_idle(240)
        assert [b.result for b in standin.builds_of(JOB)] == ["SUCCESS", "SUCCESS"]  # one deploy per stale image
        assert docker.state(names["engine"], "{{.Config.Image}}") == f"{repo}:19.04.6"
        say("Jenkins deploy-centreon-poller #2 finished: SUCCESS; container replaced with 19.04.6")
        engine.wait(lambda: image().get("current_state") == "0", 90, "image service OK again")
        say(f"engine: Poller image OK: {image()['plugin_output']}")
        assert retention.read_bytes() == kept
    finally:
        engine.stop()
        standin.stop()
        docker("rm", "-f", names["engine"], names["vmware"], check=False)
        docker("network", "rm", names["net"], check=False)
