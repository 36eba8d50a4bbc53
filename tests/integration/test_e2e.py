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

Run alone with `make e2e`, which prints the timeline and the chain's duration."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.centreon_tree import generate
from tests.engine import COMMON, Engine, base_objects, define
from tests.helpers import BUSYBOX_IMAGE, ROOT, Docker, wait_for, write_fleet_config
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
    opts = f"--docker-url {docker.host} --config {cfg}"
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
                _HANDLEROPTIONS=f"--config {cfg}",
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
            _RELEASEOPTIONS=f"--config {cfg}",
            _HANDLEROPTIONS=f"--config {cfg}",
            **fast,
            **common,
        ),
    ]
    return "\n".join(out)


def test_the_fleet_rebuilds_and_redeploys_itself(
    docker: Docker, registry: str, twin_image: str, sshd: dict[str, str], tmp_path: Path
) -> None:
    say = Timeline()
    path = f"{docker.prefix.rstrip('-')}/e2e-engine"
    repo = f"{registry}/{path}"
    engines = {"poller01": docker.name("e2e-engine-01"), "poller02": docker.name("e2e-engine-02")}

    # upstream: a real RPM-md repository that publishes centreon-engine 19.04.1
    rpms = tmp_path / "rpmbuild"
    rpms.mkdir()
    upstream = make_repo(
        tmp_path / "upstream", [build_rpm(rpms, "centreon-engine", "19.04.1", mtime=time.time() - 9 * DAY)]
    )
    server = Server(upstream)

    # The pollers run the Debian twin of the poller image (images/centreon-engine/Dockerfile.twin,
    # built by the build job): at each start they fetch what the central generated for their poller
    # id over SSH (the test sshd, through a socket mounted in the container: tests/twin.py).
    cache = tmp_path / "central-cache"
    poller_ids = {"poller01": 1, "poller02": 2}
    for poller_id in poller_ids.values():
        # modules=(): nagios4 cannot load Centreon's broker modules (only the production image has them)
        generate(cache, poller_id, host_names=("web01",), service_names=("Ping",), modules=())
    link = tmp_path / "central-link"
    forwarder = central_link(link, int(sshd["PFT_SSHD_PORT"]))

    # the fleet: one inventory for Ansible and the suite; poller02 is held at 19.04.1 by the operator
    def host_vars(name: str, engine: str) -> dict[str, object]:
        poller_ssh_dir(tmp_path / "srv" / name / "ssh", Path(sshd["PFT_SSHD_DIR"]))
        return {
            "ansible_connection": "local",
            "ansible_python_interpreter": "{{ ansible_playbook_python }}",
            "poller_docker_url": docker.host,
            "centreon_poller_docker_host": docker.host,
            "centreon_poller_base_dir": str(tmp_path / "srv" / name),
            "centreon_poller_network": docker.name(f"e2e-net-{name}"),
            "centreon_poller_network_internal": True,
            "centreon_poller_engine_name": engine,
            "centreon_poller_health_retries": 60,
            "centreon_poller_health_delay": 1,
            **twin_vars(link, cache, poller_ids[name]),
        }

    hosts = {h: host_vars(h, e) for h, e in engines.items()}
    hosts["poller02"]["poller_image_tag"] = "19.04.1"
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(
        json.dumps(
            {
                "all": {
                    "vars": {"poller_central_host": "central.invalid", "poller_image_repository": repo},
                    "children": {"pollers": {"hosts": hosts}},
                }
            }
        )
    )

    standin = JenkinsStandin({"pollerfleet": TOKEN}, []).start()
    cfg = write_fleet_config(
        tmp_path,
        jenkins_url=standin.url,
        token=TOKEN,
        registry_address=registry,
        inventory=inventory,
        registry={"cache_ttl": 1, "repository": path, "release_line": "19.04"},
        upstream={"urls": [server.url], "release_line": "19.04", "allow_http": True},
        redeploy={"cooldown_minutes": 0.05, "breaker_failures": 2},
    )

    # What the Jenkins agent gives every build: its own variables (the suite installed on it, its
    # fleet.toml, the Docker daemon it builds on), the Jenkinsfiles' environment blocks.
    agent = {
        **os.environ,
        "PATH": f"{BIN}:{os.environ['PATH']}",
        "POLLERFLEET_CONFIG": str(cfg),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCALHOST_WARNING": "0",
        "DOCKER_HOST": docker.host,
        "DOCKER": "/usr/bin/docker",
        "DOCKER_BUILDKIT": "0",
        "DOCKER_BUILD_ARGS": "--network none",
        "BASE_IMAGE": BUSYBOX_IMAGE,  # no base image can be pulled here (the twin's is imported)
        "REGISTRY_URL": f"http://{registry}",
        "POLLER_BUILD_CONTEXT": str(ROOT / "images" / "centreon-engine"),
        "POLLER_DOCKERFILE": "Dockerfile.twin",
    }
    for name in ("BUILD_NUMBER", "CENTREON_ENGINE_VERSION", "HOSTNAME", "POLLER_IMAGE"):
        agent.pop(name, None)
    build_env = {**agent, "REGISTRY": registry, "REPOSITORY": path}  # build-centreon-poller.Jenkinsfile
    deploy_env = {**agent, "INVENTORY": str(inventory)}  # deploy-centreon-poller.Jenkinsfile
    logs = str(tmp_path / "jenkins")
    build_job = Job(
        BUILD,
        ["CENTREON_ENGINE_VERSION", "TAG_LATEST"],
        defaults={"TAG_LATEST": "false"},
        command=["jenkins/build-poller.sh"],
        cwd=str(ROOT),
        env=build_env,
        log_dir=logs,
    )
    deploy_job = Job(
        DEPLOY,
        ["HOSTNAME", "POLLER_IMAGE", "PREPARE_HOST"],
        defaults={"PREPARE_HOST": "true"},
        command=["jenkins/deploy-poller.sh"],
        cwd=str(ROOT),
        env=deploy_env,
        log_dir=logs,
        one_per="HOSTNAME",
    )
    standin.jobs = {j.name: j for j in (build_job, deploy_job)}

    def job_log(job: str) -> str:
        return "\n".join(p.read_text()[-2500:] for p in sorted(Path(logs).glob(f"{job}-*.log")))

    def operator_build(version: str, number: int) -> None:
        """An operator runs the build job by hand (Build with Parameters)."""
        env = {**build_env, "CENTREON_ENGINE_VERSION": version, "BUILD_NUMBER": str(number)}
        r = subprocess.run(["jenkins/build-poller.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr[-3000:]

    def running(name: str) -> str:
        return docker.state(name, "{{.Config.Image}}")

    engine = None
    try:
        # set-up, as an operator does it: build 19.04.1, deploy both pollers through the deploy job's script
        operator_build("19.04.1", 1)
        r = subprocess.run(
            ["jenkins/deploy-poller.sh"],
            cwd=ROOT,
            env={**deploy_env, "HOSTNAME": "poller01 poller02", "PREPARE_HOST": "false"},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        first = {h: running(e) for h, e in engines.items()}
        assert first["poller01"].startswith(f"{repo}:19.04.1-1@sha256:")
        assert first["poller02"].startswith(f"{repo}:19.04.1@sha256:")  # the pin names the tag
        assert first["poller01"].split("@")[1] == first["poller02"].split("@")[1]
        say("19.04.1 built; poller01 and poller02 deployed by jenkins/deploy-poller.sh")
        # each engine's state: a passive result, which must survive every redeploy (retention.dat)
        for h, e in engines.items():
            line = f"[{int(time.time())}] PROCESS_SERVICE_CHECK_RESULT;web01;Ping;2;CRITICAL - kept on {h}"
            docker("exec", e, "sh", "-c", f"printf '%s\\n' '{line}' > /var/lib/centreon-engine/rw/centengine.cmd")

        def ping(h: str) -> dict[str, str]:
            return service_status(tmp_path / "srv" / h / "log" / "status.dat", "web01", "Ping")

        def kept(h: str) -> bool:
            return ping(h).get("plugin_output") == f"CRITICAL - kept on {h}" and ping(h).get("current_state") == "2"

        for h in engines:
            wait_for(lambda h=h: kept(h), 30, what=f"{h}'s passive result")

        engine = Engine(tmp_path / "engine", objects(docker, cfg, engines), resources={"USER1": str(BIN)})
        engine.start()
        say(f"nagios4 started (pid {engine.pid}) with commands/pollerfleet-objects.cfg")
        image = lambda h: engine.service(h, IMAGE_SERVICE)  # noqa: E731
        release = lambda: engine.service("central", RELEASE_SERVICE)  # noqa: E731
        checked_ok = lambda s: s.get("has_been_checked") == "1" and s.get("current_state") == "0"  # noqa: E731
        engine.wait(lambda: checked_ok(image("poller01")), 60, "poller01 image OK at 19.04.1")
        engine.wait(lambda: checked_ok(release()), 60, "release OK at 19.04.1")
        chain = time.monotonic()

        # 1. upstream publishes 19.04.5: rebuilt, then poller01 redeployed; poller02 stays held
        make_repo(upstream, [build_rpm(rpms, "centreon-engine", "19.04.5", mtime=time.time() - 2 * DAY)])
        say("upstream publishes centreon-engine 19.04.5")
        engine.wait(
            lambda: release().get("current_state") == "2" and release().get("state_type") == "1",
            60,
            "release service CRITICAL HARD",
        )
        say(f"engine: {RELEASE_SERVICE} CRITICAL HARD: {release()['plugin_output']}")
        engine.wait(lambda: bool(standin.builds_of(BUILD)), 60, "the rebuild handler's build")
        assert standin.triggered(BUILD) == [{"CENTREON_ENGINE_VERSION": "19.04.5", "TAG_LATEST": "false"}]
        standin.wait_idle(240)
        assert [b.result for b in standin.builds_of(BUILD)] == ["SUCCESS"], job_log(BUILD)
        say(f"Jenkins {BUILD} #1 (jenkins/build-poller.sh) pushed 19.04.5-1")
        engine.wait(
            lambda: image("poller01").get("current_state") == "2" and image("poller01").get("state_type") == "1",
            60,
            "poller01 image CRITICAL HARD",
        )
        say(f"engine: poller01 {IMAGE_SERVICE} CRITICAL HARD: {image('poller01')['plugin_output']}")
        engine.wait(lambda: bool(standin.triggered(DEPLOY)), 60, "the redeploy handler's deploy")
        sent = standin.triggered(DEPLOY)[0]
        assert sent["HOSTNAME"] == "poller01" and sent["PREPARE_HOST"] == "false"
        assert sent["POLLER_IMAGE"].startswith(f"{repo}:19.04.5-1@sha256:")
        standin.wait_idle(240)
        assert [b.result for b in standin.builds_of(DEPLOY)] == ["SUCCESS"], job_log(DEPLOY)
        assert running(engines["poller01"]) == sent["POLLER_IMAGE"]
        wait_for(lambda: kept("poller01"), 30, what="poller01's state read back from retention.dat")
        say(f"Jenkins {DEPLOY} #1: poller01 runs {sent['POLLER_IMAGE'][-71:]}; its engine state kept (retention.dat)")
        engine.wait(lambda: image("poller01").get("current_state") == "0", 60, "poller01 image OK")
        say(f"engine: poller01 {IMAGE_SERVICE} OK: {image('poller01')['plugin_output']}")
        assert image("poller02").get("current_state") == "0"
        assert "held at 19.04.1 (newest 19.04.5-1)" in image("poller02")["plugin_output"]
        assert running(engines["poller02"]) == first["poller02"]
        say(f"engine: poller02 {IMAGE_SERVICE} OK: {image('poller02')['plugin_output']}")
        say(f"chain release -> rebuild -> redeploy -> OK: {time.monotonic() - chain:.1f} s")

        # 2. the pin's tag is rebuilt (same tag, new digest): poller02 goes to the pin's new digest
        chain = time.monotonic()
        operator_build("19.04.1", 2)
        say("19.04.1 rebuilt by hand (19.04.1-2; the tag 19.04.1 moves to a new digest)")
        engine.wait(lambda: len(standin.triggered(DEPLOY)) == 2, 60, "poller02's redeploy")
        sent = standin.triggered(DEPLOY)[1]
        assert sent["HOSTNAME"] == "poller02" and sent["POLLER_IMAGE"].startswith(f"{repo}:19.04.1@sha256:")
        assert sent["POLLER_IMAGE"] != first["poller02"]
        standin.wait_idle(240)
        assert [b.result for b in standin.builds_of(DEPLOY)] == ["SUCCESS", "SUCCESS"], job_log(DEPLOY)
        assert running(engines["poller02"]) == sent["POLLER_IMAGE"]
        wait_for(lambda: kept("poller02"), 30, what="poller02's state read back from retention.dat")
        engine.wait(lambda: image("poller02").get("current_state") == "0", 60, "poller02 image OK")
        say(f"engine: poller02 {IMAGE_SERVICE} OK: {image('poller02')['plugin_output']}")
        say(f"chain same-tag rebuild -> redeploy -> OK: {time.monotonic() - chain:.1f} s")
        assert [t["HOSTNAME"] for t in standin.triggered(DEPLOY)] == ["poller01", "poller02"]

        # 3. a deploy job that reports SUCCESS and changes nothing: no-progress opens the breaker
        deploy_job.command = None  # the fault: the job "succeeds" at once, doing nothing
        operator_build("19.04.5", 3)
        say("deploy job broken (SUCCESS, does nothing); 19.04.5-3 pushed")
        engine.wait(lambda: len(standin.triggered(DEPLOY)) == 3, 60, "poller01's redeploy")
        standin.wait_idle(60)

        def reconcile() -> subprocess.CompletedProcess[str]:
            time.sleep(3.5)  # past the test's 3 s cooldown: only the breaker may stop the next trigger
            return subprocess.run(
                [str(BIN / "pollerfleet"), "--config", str(cfg), "reconcile", "--critical-behind", "0"],
                capture_output=True,
                text=True,
                timeout=120,
            )

        r = reconcile()
        assert f"redeploy poller01: no-progress (build #3): {DEPLOY} #3 ended SUCCESS but poller01" in r.stdout, (
            r.stdout
        )
        assert "redeploy poller01: triggered" in r.stdout, r.stdout
        standin.wait_idle(60)
        r = reconcile()
        assert "redeploy poller01: no-progress (build #4)" in r.stdout, r.stdout
        assert "redeploy poller01: refused: circuit breaker tripped: 2 consecutive failed" in r.stdout, r.stdout
        assert r.returncode == 1
        r = reconcile()
        assert "redeploy poller01: refused: circuit breaker open since" in r.stdout, r.stdout
        assert len(standin.triggered(DEPLOY)) == 4  # no further build was asked
        assert "poller02: no redeploy needed" in r.stdout  # the held host was never touched
        audit = [json.loads(line) for line in (tmp_path / "audit.log").read_text().splitlines()]
        assert [a["build"] for a in audit if a["action"] == "no-progress"] == [3, 4]
        say("no-progress builds #3 and #4 opened the breaker; no further deploy asked")
    finally:
        if engine is not None:
            engine.stop()
        standin.stop()
        server.stop()
        forwarder.close()
        for h, e in engines.items():
            docker("rm", "-f", e, check=False)
            docker("network", "rm", docker.name(f"e2e-net-{h}"), check=False)
    say(f"whole test: {time.monotonic() - say.start:.1f} s")
