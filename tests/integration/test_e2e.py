"""End to end, with nothing handed over: a real monitoring engine (Debian's nagios4; Centreon
Engine is a Nagios fork with the same object syntax, macros and event-handler rules) runs the
suite from commands/; the Jenkins stand-in runs the repository's own job scripts
(jenkins/build-poller.sh, jenkins/deploy-poller.sh) with exactly the parameters the suite sent it,
in the environment a Jenkins agent gives (workspace = the repository, the agent's variables, the
parameters as variables); the scripts run images/build.sh against the test daemon and registry
and the real ansible-playbook against the test daemon. No tag, digest or -e is known to the test.
The pollers are the Debian twin of the poller image (Dockerfile.twin): they fetch their
configuration from the test sshd at start and run a real engine, whose state must survive the
redeploys.

    new upstream release -> check_engine_release CRITICAL HARD -> handle_engine_rebuild -> build job
    -> check_poller_image CRITICAL HARD -> handle_poller_redeploy -> deploy job -> image OK
    same-tag rebuild of a held host's pin -> CRITICAL -> redeploy to the pin's new digest -> OK
    a deploy job that reports SUCCESS and changes nothing -> no-progress -> breaker open

The `world` fixture builds what the loop runs on (upstream, central, inventory, Jenkins, agent);
the test walks the loop through the named steps of STEPS, in that order, each asserting one stage:
a failure names its step. Run alone with `make e2e`, which prints the timeline and the chain's
duration."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.centreon_tree import generate
from tests.engine import COMMON, Engine, base_objects, define
from tests.helpers import (
    BUSYBOX_IMAGE,
    ROOT,
    Docker,
    jenkins_agent_env,
    pollerfleet,
    wait_for,
    write_fleet_config,
    write_inventory,
)
from tests.standins.jenkins import JenkinsStandin, Job
from tests.twin import central_link, poller_ssh_dir, service_status, twin_vars
from tests.upstream_repo import Server, build_rpm, make_repo

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.docker,
    pytest.mark.registry,
    pytest.mark.ansible,
    pytest.mark.sshd,
    pytest.mark.twin,
    pytest.mark.slow,
]
TOKEN = "e2e-jenkins-token"
DEPLOY = "deploy-centreon-poller"
BUILD = "build-centreon-poller"
BIN = Path(sys.executable).parent  # the installed plugins, as $USER1$, and pollerfleet, ansible-playbook
IMAGE_SERVICE = "Poller image"
RELEASE_SERVICE = "Engine release"
DAY = 86400


class Timeline:
    def __init__(self) -> None:
        self.start = time.monotonic()
        self.events: list[str] = []

    def __call__(self, event: str) -> None:
        line = f"t+{time.monotonic() - self.start:5.1f}s: {event}"
        self.events.append(line)
        print(line, flush=True)


def objects(docker: Docker, cfg: Path, engines: dict[str, str]) -> str:
    common = {**COMMON, "notifications_enabled": 0}
    opts = f"--docker-url {docker.host}"  # --config comes from the engine's environment, never a macro
    fast = {"check_interval": 2, "retry_interval": 1, "max_check_attempts": 2}
    out = [base_objects()]
    for host, engine in engines.items():
        out += [
            define("host", use="pf-docker-host", host_name=host, address="127.0.0.1", _DOCKEROPTIONS=opts, **common),
            define(
                "service",
                use="pf-poller-image",
                host_name=host,
                service_description=IMAGE_SERVICE,
                _CONTAINERNAME=engine,
                _CRITICALBEHIND=0,
                _HANDLEROPTIONS="-v",
                **fast,
                **common,
            ),
        ]
    out += [
        define("host", use="pf-docker-host", host_name="central", address="127.0.0.1", _DOCKEROPTIONS=opts, **common),
        define(
            "service",
            use="pf-engine-release",
            host_name="central",
            service_description=RELEASE_SERVICE,
            _WARNINGHOURS=0,
            _CRITICALHOURS=0,
            _RELEASEOPTIONS="",
            _HANDLEROPTIONS="-v",
            **fast,
            **common,
        ),
    ]
    return "\n".join(out)


def checked_ok(status: dict[str, str]) -> bool:
    return status.get("has_been_checked") == "1" and status.get("current_state") == "0"


def critical_hard(status: dict[str, str]) -> bool:
    return status.get("current_state") == "2" and status.get("state_type") == "1"


@dataclass
class World:
    """What the loop runs on, built once by the `world` fixture, and what the steps learnt so far."""

    docker: Docker
    tmp: Path
    path: str  # the image repository in the registry
    repo: str  # registry/path
    engines: dict[str, str]  # inventory host -> its engine container
    rpms: Path
    upstream: Path
    cfg: Path
    standin: JenkinsStandin
    deploy_job: Job
    build_env: dict[str, str]
    deploy_env: dict[str, str]
    logs: Path
    say: Timeline
    engine: Engine | None = None
    first: dict[str, str] = field(default_factory=dict)  # each poller's image after the operator's set-up
    sent: dict[str, str] = field(default_factory=dict)  # the last deploy's parameters, as the stand-in got them
    chain: float = 0.0  # when the chain being timed began

    # -- what the test reads, as an operator would ------------------------------------------------
    def job_log(self, job: str) -> str:
        return "\n".join(p.read_text()[-2500:] for p in sorted(self.logs.glob(f"{job}-*.log")))

    def running(self, host: str) -> str:
        return self.docker.state(self.engines[host], "{{.Config.Image}}")

    def kept(self, host: str) -> bool:
        """HOST's engine still has the passive result the set-up gave it (its retention.dat survived)."""
        ping = service_status(self.tmp / "srv" / host / "log" / "status.dat", "web01", "Ping")
        return ping.get("plugin_output") == f"CRITICAL - kept on {host}" and ping.get("current_state") == "2"

    def monitoring(self) -> Engine:
        assert self.engine is not None, "the monitoring engine is not started yet"
        return self.engine

    def image(self, host: str) -> dict[str, str]:
        return self.monitoring().service(host, IMAGE_SERVICE)

    def release(self) -> dict[str, str]:
        return self.monitoring().service("central", RELEASE_SERVICE)

    def deploys(self) -> list[dict[str, str]]:
        return self.standin.triggered(DEPLOY)

    # -- what the test does, as an operator or upstream would ---------------------------------------
    def publish(self, version: str, age_days: float) -> None:
        make_repo(self.upstream, [build_rpm(self.rpms, "centreon-engine", version, mtime=time.time() - age_days * DAY)])

    def operator_build(self, version: str, number: int) -> None:
        """An operator runs the build job by hand (Build with Parameters)."""
        env = {**self.build_env, "CENTREON_ENGINE_VERSION": version, "BUILD_NUMBER": str(number)}
        r = subprocess.run(["jenkins/build-poller.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr[-3000:]

    def reconcile(self) -> subprocess.CompletedProcess[str]:
        time.sleep(3.5)  # past the test's 3 s cooldown: only the breaker may stop the next trigger
        return pollerfleet(self.cfg, "reconcile", "--critical-behind", "0")


@pytest.fixture(scope="module")
def world(
    docker: Docker, registry: str, twin_image: str, sshd: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    say = Timeline()
    tmp = tmp_path_factory.mktemp("e2e")
    path = f"{docker.prefix.rstrip('-')}/e2e-engine"
    repo = f"{registry}/{path}"
    engines = {"poller01": docker.name("e2e-engine-01"), "poller02": docker.name("e2e-engine-02")}
    with contextlib.ExitStack() as cleanup:
        for h, e in engines.items():
            cleanup.callback(docker, "network", "rm", docker.name(f"e2e-net-{h}"), check=False)
            cleanup.callback(docker, "rm", "-f", e, check=False)

        # upstream: a real RPM-md repository that publishes centreon-engine 19.04.1
        rpms = tmp / "rpmbuild"
        rpms.mkdir()
        upstream = make_repo(
            tmp / "upstream", [build_rpm(rpms, "centreon-engine", "19.04.1", mtime=time.time() - 9 * DAY)]
        )
        server = Server(upstream)
        cleanup.callback(server.stop)

        # The pollers run the Debian twin of the poller image (images/centreon-engine/Dockerfile.twin,
        # built by the build job): at each start they fetch what the central generated for their poller
        # id over SSH (the test sshd, through a socket mounted in the container: tests/twin.py).
        cache = tmp / "central-cache"
        poller_ids = {"poller01": 1, "poller02": 2}
        for poller_id in poller_ids.values():
            # modules=(): nagios4 cannot load Centreon's broker modules (only the production image has them)
            generate(cache, poller_id, host_names=("web01",), service_names=("Ping",), modules=())
        link = tmp / "central-link"
        forwarder = central_link(link, int(sshd["PFT_SSHD_PORT"]))
        cleanup.callback(forwarder.close)

        # the fleet: one inventory for Ansible and the suite; poller02 is held at 19.04.1 by the operator
        def host_vars(name: str, engine: str) -> dict[str, object]:
            poller_ssh_dir(tmp / "srv" / name / "ssh", Path(sshd["PFT_SSHD_DIR"]))
            return {
                "ansible_connection": "local",
                "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                "poller_docker_url": docker.host,
                "centreon_poller_docker_host": docker.host,
                "centreon_poller_base_dir": str(tmp / "srv" / name),
                "centreon_poller_network": docker.name(f"e2e-net-{name}"),
                "centreon_poller_network_internal": True,
                "centreon_poller_engine_name": engine,
                "centreon_poller_health_retries": 60,
                "centreon_poller_health_delay": 1,
                **twin_vars(link, cache, poller_ids[name]),
            }

        hosts = {h: host_vars(h, e) for h, e in engines.items()}
        hosts["poller02"]["poller_image_tag"] = "19.04.1"
        inventory = write_inventory(
            tmp / "inventory.yml", hosts, poller_central_host="central.invalid", poller_image_repository=repo
        )

        standin = JenkinsStandin({"pollerfleet": TOKEN}, []).start()
        cleanup.callback(standin.stop)
        cfg = write_fleet_config(
            tmp,
            jenkins_url=standin.url,
            token=TOKEN,
            registry_address=registry,
            inventory=inventory,
            registry={"cache_ttl": 1, "repository": path, "release_line": "19.04"},
            upstream={"urls": [server.url], "release_line": "19.04", "allow_http": True},
            redeploy={"cooldown_minutes": 0.05, "breaker_failures": 2},
        )

        agent = jenkins_agent_env(cfg, docker.host, registry, BUSYBOX_IMAGE, ROOT / "images" / "centreon-engine")
        agent["POLLER_DOCKERFILE"] = "Dockerfile.twin"
        build_env = {**agent, "REGISTRY": registry, "REPOSITORY": path}  # build-centreon-poller.Jenkinsfile
        deploy_env = {**agent, "INVENTORY": str(inventory)}  # deploy-centreon-poller.Jenkinsfile
        logs = tmp / "jenkins"
        build_job = Job(
            BUILD,
            ["CENTREON_ENGINE_VERSION", "TAG_LATEST"],
            defaults={"TAG_LATEST": "false"},
            command=["jenkins/build-poller.sh"],
            cwd=str(ROOT),
            env=build_env,
            log_dir=str(logs),
        )
        deploy_job = Job(
            DEPLOY,
            ["HOSTNAME", "POLLER_IMAGE", "PREPARE_HOST"],
            defaults={"PREPARE_HOST": "true"},
            command=["jenkins/deploy-poller.sh"],
            cwd=str(ROOT),
            env=deploy_env,
            log_dir=str(logs),
            one_per="HOSTNAME",
        )
        standin.jobs = {j.name: j for j in (build_job, deploy_job)}
        w = World(
            docker, tmp, path, repo, engines, rpms, upstream, cfg, standin, deploy_job, build_env, deploy_env, logs, say
        )
        cleanup.callback(lambda: w.engine.stop() if w.engine is not None else None)
        yield w


# -- the steps, in the loop's order --------------------------------------------------------------
def operator_builds_and_deploys_19_04_1(w: World) -> None:
    """Set-up, as an operator does it: build 19.04.1, deploy both pollers through the deploy job's script."""
    w.operator_build("19.04.1", 1)
    r = subprocess.run(
        ["jenkins/deploy-poller.sh"],
        cwd=ROOT,
        env={**w.deploy_env, "HOSTNAME": "poller01 poller02", "PREPARE_HOST": "false"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    w.first = {h: w.running(h) for h in w.engines}
    assert w.first["poller01"].startswith(f"{w.repo}:19.04.1-1@sha256:")
    assert w.first["poller02"].startswith(f"{w.repo}:19.04.1@sha256:")  # the pin names the tag
    assert w.first["poller01"].split("@")[1] == w.first["poller02"].split("@")[1]
    w.say("19.04.1 built; poller01 and poller02 deployed by jenkins/deploy-poller.sh")


def each_poller_engine_holds_a_passive_result(w: World) -> None:
    """Each poller's engine gets a state of its own, which must survive every redeploy (retention.dat)."""
    for h, e in w.engines.items():
        line = f"[{int(time.time())}] PROCESS_SERVICE_CHECK_RESULT;web01;Ping;2;CRITICAL - kept on {h}"
        w.docker("exec", e, "sh", "-c", f"printf '%s\\n' '{line}' > /var/lib/centreon-engine/rw/centengine.cmd")
    for h in w.engines:
        wait_for(lambda h=h: w.kept(h), 30, what=f"{h}'s passive result")


def monitoring_sees_the_fleet_ok(w: World) -> None:
    """The monitoring engine starts with commands/pollerfleet-objects.cfg: the image and release checks are OK."""
    w.engine = Engine(
        w.tmp / "engine",
        objects(w.docker, w.cfg, w.engines),
        resources={"USER1": str(BIN)},
        env={"POLLERFLEET_CONFIG": str(w.cfg)},  # as an operator's engine names a config not at the default path
    )
    w.engine.start()
    w.say(f"nagios4 started (pid {w.engine.pid}) with commands/pollerfleet-objects.cfg")
    w.engine.wait(lambda: checked_ok(w.image("poller01")), 60, "poller01 image OK at 19.04.1")
    w.engine.wait(lambda: checked_ok(w.release()), 60, "release OK at 19.04.1")


def a_new_upstream_release_turns_the_release_check_critical(w: World) -> None:
    """Upstream publishes 19.04.5: check_engine_release goes CRITICAL HARD."""
    w.chain = time.monotonic()
    w.publish("19.04.5", age_days=2)
    w.say("upstream publishes centreon-engine 19.04.5")
    w.monitoring().wait(lambda: critical_hard(w.release()), 60, "release service CRITICAL HARD")
    w.say(f"engine: {RELEASE_SERVICE} CRITICAL HARD: {w.release()['plugin_output']}")


def the_rebuild_handler_has_the_build_job_build_exactly_that_release(w: World) -> None:
    """handle_engine_rebuild asks the build job for 19.04.5 and nothing else; the build succeeds."""
    w.monitoring().wait(lambda: bool(w.standin.builds_of(BUILD)), 60, "the rebuild handler's build")
    assert w.standin.triggered(BUILD) == [{"CENTREON_ENGINE_VERSION": "19.04.5", "TAG_LATEST": "false"}]
    w.standin.wait_idle(240)
    assert [b.result for b in w.standin.builds_of(BUILD)] == ["SUCCESS"], w.job_log(BUILD)
    w.say(f"Jenkins {BUILD} #1 (jenkins/build-poller.sh) pushed 19.04.5-1")


def poller01s_image_check_turns_critical(w: World) -> None:
    """The new image makes poller01's check_poller_image CRITICAL HARD (poller02 is held)."""
    w.monitoring().wait(lambda: critical_hard(w.image("poller01")), 60, "poller01 image CRITICAL HARD")
    w.say(f"engine: poller01 {IMAGE_SERVICE} CRITICAL HARD: {w.image('poller01')['plugin_output']}")


def the_redeploy_handler_has_the_deploy_job_deploy_the_new_image_to_poller01(w: World) -> None:
    """handle_poller_redeploy asks the deploy job for poller01 and the image it found; the deploy succeeds."""
    w.monitoring().wait(lambda: bool(w.deploys()), 60, "the redeploy handler's deploy")
    w.sent = w.deploys()[0]
    assert w.sent["HOSTNAME"] == "poller01" and w.sent["PREPARE_HOST"] == "false", w.sent
    assert w.sent["POLLER_IMAGE"].startswith(f"{w.repo}:19.04.5-1@sha256:"), w.sent
    w.standin.wait_idle(240)
    assert [b.result for b in w.standin.builds_of(DEPLOY)] == ["SUCCESS"], w.job_log(DEPLOY)


def poller01_runs_it_keeps_its_state_and_its_check_is_ok(w: World) -> None:
    """poller01 runs exactly the image sent, read its engine state back, and its image check is OK again."""
    assert w.running("poller01") == w.sent["POLLER_IMAGE"]
    wait_for(lambda: w.kept("poller01"), 30, what="poller01's state read back from retention.dat")
    w.say(f"Jenkins {DEPLOY} #1: poller01 runs {w.sent['POLLER_IMAGE'][-71:]}; its engine state kept (retention.dat)")
    w.monitoring().wait(lambda: w.image("poller01").get("current_state") == "0", 60, "poller01 image OK")
    w.say(f"engine: poller01 {IMAGE_SERVICE} OK: {w.image('poller01')['plugin_output']}")


def held_poller02_stays_on_its_pin(w: World) -> None:
    """poller02, held at 19.04.1, is OK, says it is held, and still runs what the set-up gave it."""
    assert w.image("poller02").get("current_state") == "0", w.image("poller02")
    assert "held at 19.04.1 (newest 19.04.5-1)" in w.image("poller02")["plugin_output"]
    assert w.running("poller02") == w.first["poller02"]
    w.say(f"engine: poller02 {IMAGE_SERVICE} OK: {w.image('poller02')['plugin_output']}")
    w.say(f"chain release -> rebuild -> redeploy -> OK: {time.monotonic() - w.chain:.1f} s")


def a_same_tag_rebuild_of_the_pin_redeploys_poller02_to_its_new_digest(w: World) -> None:
    """The pin's tag is rebuilt (same tag, new digest): the deploy job is asked for poller02 at that digest."""
    w.chain = time.monotonic()
    w.operator_build("19.04.1", 2)
    w.say("19.04.1 rebuilt by hand (19.04.1-2; the tag 19.04.1 moves to a new digest)")
    w.monitoring().wait(lambda: len(w.deploys()) == 2, 60, "poller02's redeploy")
    w.sent = w.deploys()[1]
    assert w.sent["HOSTNAME"] == "poller02" and w.sent["POLLER_IMAGE"].startswith(f"{w.repo}:19.04.1@sha256:"), w.sent
    assert w.sent["POLLER_IMAGE"] != w.first["poller02"]
    w.standin.wait_idle(240)
    assert [b.result for b in w.standin.builds_of(DEPLOY)] == ["SUCCESS", "SUCCESS"], w.job_log(DEPLOY)


def poller02_runs_the_new_digest_keeps_its_state_and_its_check_is_ok(w: World) -> None:
    """poller02 runs exactly the image sent, read its engine state back, its check is OK; no other deploy was asked."""
    assert w.running("poller02") == w.sent["POLLER_IMAGE"]
    wait_for(lambda: w.kept("poller02"), 30, what="poller02's state read back from retention.dat")
    w.monitoring().wait(lambda: w.image("poller02").get("current_state") == "0", 60, "poller02 image OK")
    w.say(f"engine: poller02 {IMAGE_SERVICE} OK: {w.image('poller02')['plugin_output']}")
    w.say(f"chain same-tag rebuild -> redeploy -> OK: {time.monotonic() - w.chain:.1f} s")
    assert [t["HOSTNAME"] for t in w.deploys()] == ["poller01", "poller02"]


def a_deploy_that_changes_nothing_is_seen_as_no_progress(w: World) -> None:
    """The deploy job breaks (SUCCESS at once, doing nothing): reconcile calls build #3 no-progress and asks again."""
    w.deploy_job.command = None  # the fault: the job "succeeds" at once, doing nothing
    w.operator_build("19.04.5", 3)
    w.say("deploy job broken (SUCCESS, does nothing); 19.04.5-3 pushed")
    w.monitoring().wait(lambda: len(w.deploys()) == 3, 60, "poller01's redeploy")
    w.standin.wait_idle(60)
    r = w.reconcile()
    assert f"redeploy poller01: no-progress (build #3): {DEPLOY} #3 ended SUCCESS but poller01" in r.stdout, r.stdout
    assert "redeploy poller01: triggered" in r.stdout, r.stdout


def a_second_no_progress_opens_the_breaker(w: World) -> None:
    """Build #4 changes nothing either: the second consecutive failure trips the circuit breaker."""
    w.standin.wait_idle(60)
    r = w.reconcile()
    assert "redeploy poller01: no-progress (build #4)" in r.stdout, r.stdout
    assert "redeploy poller01: refused: circuit breaker tripped: 2 consecutive failed" in r.stdout, r.stdout
    assert r.returncode == 1, r.stdout + r.stderr


def the_open_breaker_asks_nothing_more(w: World) -> None:
    """With the breaker open no deploy is asked, the held host is never touched, the audit log has both builds."""
    r = w.reconcile()
    assert "redeploy poller01: refused: circuit breaker open since" in r.stdout, r.stdout
    assert len(w.deploys()) == 4, w.deploys()  # no further build was asked
    assert "poller02: no redeploy needed" in r.stdout, r.stdout  # the held host was never touched
    audit = [json.loads(line) for line in (w.tmp / "audit.log").read_text().splitlines()]
    assert [a["build"] for a in audit if a["action"] == "no-progress"] == [3, 4]
    w.say("no-progress builds #3 and #4 opened the breaker; no further deploy asked")


STEPS: tuple[Callable[[World], None], ...] = (
    operator_builds_and_deploys_19_04_1,
    each_poller_engine_holds_a_passive_result,
    monitoring_sees_the_fleet_ok,
    a_new_upstream_release_turns_the_release_check_critical,
    the_rebuild_handler_has_the_build_job_build_exactly_that_release,
    poller01s_image_check_turns_critical,
    the_redeploy_handler_has_the_deploy_job_deploy_the_new_image_to_poller01,
    poller01_runs_it_keeps_its_state_and_its_check_is_ok,
    held_poller02_stays_on_its_pin,
    a_same_tag_rebuild_of_the_pin_redeploys_poller02_to_its_new_digest,
    poller02_runs_the_new_digest_keeps_its_state_and_its_check_is_ok,
    a_deploy_that_changes_nothing_is_seen_as_no_progress,
    a_second_no_progress_opens_the_breaker,
    the_open_breaker_asks_nothing_more,
)


def test_the_fleet_rebuilds_and_redeploys_itself(world: World) -> None:
    """Each step needs the ones before it (one world, one engine, one history of builds): they run
    here in STEPS' order, and a failure says which step, what it meant and the timeline so far."""
    for number, step in enumerate(STEPS, 1):
        try:
            step(world)
        except Exception as e:
            meant = (step.__doc__ or "").strip()
            timeline = "\n".join(world.say.events)
            raise AssertionError(
                f"step {number}/{len(STEPS)} {step.__name__} failed: {meant}\ntimeline:\n{timeline}"
            ) from e
    world.say(f"whole test: {time.monotonic() - world.say.start:.1f} s")
