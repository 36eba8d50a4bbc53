"""Canary promotion end to end, with nothing handed over: upstream releases (a real RPM-md tree)
-> `pollerfleet reconcile` asks the build job (jenkins/build-poller.sh, images/build.sh) -> the
canary poller gets the image through the deploy job (jenkins/deploy-poller.sh, the real
ansible-playbook against the test daemon), the others do not -> the soak passes -> reconcile asks
the promote job (jenkins/promote-poller.sh) -> the others follow, within the budget. Then a release
whose image starts healthy and stops being healthy 20 s later: it reaches the canary only, is
blocked with the reason, the canary goes back, the others never receive it; the next good release
goes through. The test knows the upstream versions it publishes, and no tag, digest or stage.

The pollers are busybox stand-ins of the poller image (tests/fixtures/poller-image's shape), built
by the build job from a context of the test's: the bad release's health check is the only fault.
The periodic reconcile is the driver here (tests/integration/test_e2e.py proves the engine's event
handlers); the soak is shortened by configuration."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import ROOT, Docker, jenkins_agent_env, pollerfleet, write_fleet_config
from tests.standins.jenkins import JenkinsStandin, Job
from tests.upstream_repo import Server, build_rpm, make_repo

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.docker,
    pytest.mark.registry,
    pytest.mark.ansible,
    pytest.mark.jenkins,
    pytest.mark.slow,
]
BUDGET = 2
SOAK_MINUTES = 1  # three times as long as 19.04.3 stays healthy: room for a slow reconcile
# the fixture poller image's ARGs and labels (what the build job sets), with a start time and a
# health check of this test's
FIXTURE = (ROOT / "tests" / "fixtures" / "poller-image" / "Dockerfile").read_text()
DOCKERFILE = (
    FIXTURE[: FIXTURE.index("\nRUN ") + 1]
    + """\
RUN ["/bin/sh", "-c", "mkdir -p /tmp && echo \\"$CENTREON_ENGINE_VERSION\\" > /etc/poller-release"]
COPY health /health
HEALTHCHECK --interval=2s --timeout=5s --retries=2 CMD ["/bin/sh", "/health"]
CMD ["/bin/sh", "-c", "date +%s > /tmp/started; exec sleep 1000000"]
"""
)
# 19.04.3 is the bad release: healthy at first (it passes the deploy's health gate and its
# verification), then it stops monitoring 20 s after its start, well within the soak
# (SOAK_MINUTES), so only the canary ever runs it. The base image has no /tmp: the Dockerfile makes
# one, or the start time is never written and the release fails the gate at once (another story).
HEALTH = """\
case "$(cat /etc/poller-release)" in
  19.04.3) [ $(( $(date +%s) - $(cat /tmp/started) )) -lt 20 ] ;;
  *) true ;;
esac
"""


def test_a_new_image_proves_itself_on_the_canary_first(docker: Docker, registry: str, tmp_path: Path) -> None:
    path = f"{docker.prefix.rstrip('-')}/e2e-canary"
    repo = f"{registry}/{path}"
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text(DOCKERFILE)
    (context / "health").write_text(HEALTH)

    rpms = tmp_path / "rpmbuild"
    rpms.mkdir()
    published: list[Path] = []
    upstream = tmp_path / "upstream"

    def release(version: str) -> None:
        published.append(build_rpm(rpms, "centreon-engine", version))
        make_repo(upstream, published)

    release("19.04.1")
    server = Server(upstream)

    hosts = ["pftc01", "pftc02", "pftc03"]
    engines = {h: docker.name(f"ec-engine-{h}") for h in hosts}

    def host_vars(h: str) -> dict[str, object]:
        return {
            "ansible_connection": "local",
            "ansible_python_interpreter": "{{ ansible_playbook_python }}",
            "ansible_become": False,
            "poller_docker_url": docker.host,
            "poller_vmware_enabled": False,
            "centreon_poller_docker_host": docker.host,
            "centreon_poller_base_dir": str(tmp_path / "srv" / h),
            "centreon_poller_uid": os.getuid(),
            "centreon_poller_gid": os.getgid(),
            "centreon_poller_network": docker.name(f"ec-net-{h}"),
            "centreon_poller_network_internal": True,
            "centreon_poller_sshd_port": "",
            "centreon_poller_engine_name": engines[h],
            "centreon_poller_health_retries": 20,
            "centreon_poller_health_delay": 1,
            **({"poller_canary": True} if h == "pftc01" else {}),
        }

    inventory = tmp_path / "inventory.yml"
    inventory.write_text(
        json.dumps(
            {
                "all": {
                    "vars": {"poller_central_host": "central.invalid", "poller_image_repository": repo},
                    "children": {"pollers": {"hosts": {h: host_vars(h) for h in hosts}}},
                }
            }
        )
    )
    standin = JenkinsStandin({"pollerfleet": "e2e-token"}, []).start()
    cfg = write_fleet_config(
        tmp_path,
        jenkins_url=standin.url,
        token="e2e-token",
        registry_address=registry,
        inventory=inventory,
        registry={"cache_ttl": 0, "repository": path, "release_line": "19.04"},
        upstream={"urls": [server.url], "release_line": "19.04", "allow_http": True},
        redeploy={"cooldown_minutes": 0.05, "budget": BUDGET, "hourly_cap": 100},
        rollout={"soak_minutes": SOAK_MINUTES},
    )
    agent = jenkins_agent_env(cfg, docker.host, registry, "pollerfleet-test/busybox:1", context)
    logs = str(tmp_path / "jenkins")
    jobs = [
        Job(
            "build-centreon-poller",
            ["CENTREON_ENGINE_VERSION", "TAG_LATEST"],
            defaults={"TAG_LATEST": "false"},
            command=["jenkins/build-poller.sh"],
            cwd=str(ROOT),
            env={**agent, "REGISTRY": registry, "REPOSITORY": path},
            log_dir=logs,
        ),
        Job(
            "deploy-centreon-poller",
            ["HOSTNAME", "POLLER_IMAGE", "PREPARE_HOST"],
            defaults={"PREPARE_HOST": "true"},
            command=["jenkins/deploy-poller.sh"],
            cwd=str(ROOT),
            env={**agent, "INVENTORY": str(inventory)},
            log_dir=logs,
            one_per="HOSTNAME",
            max_concurrent=BUDGET,
        ),
        Job(
            "promote-centreon-poller",
            ["ACTION", "POLLER_IMAGE"],
            command=["jenkins/promote-poller.sh"],
            cwd=str(ROOT),
            env=agent,
            log_dir=logs,
            max_concurrent=1,
        ),
    ]
    standin.jobs = {j.name: j for j in jobs}

    def version_of(h: str) -> str:
        image = docker.state(engines[h], "{{.Config.Image}}")
        return image.rsplit(":", 2)[-2].split("@")[0].split("-")[0] if "@" in image else image

    def versions() -> dict[str, str]:
        out = {}
        for h in hosts:
            try:
                out[h] = version_of(h)
            except AssertionError:
                out[h] = "none"
        return out

    said: list[str] = []

    def reconcile_until(predicate: Callable[[], bool], what: str, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            # the check's thresholds as the fleet's Centreon sets them: any newer image is redeployed
            r = pollerfleet(cfg, "reconcile", "--critical-behind", "0", timeout=300)
            said.append(r.stdout + r.stderr)
            if predicate():
                return
            time.sleep(3)
        pytest.fail(f"{what}: not reached; last reconcile:\n{said[-1][-3000:]}\nversions {versions()}")

    def busy() -> bool:
        return any(b.building for j in standin.jobs for b in standin.builds_of(j))

    try:
        # set-up, as an operator does it: build 19.04.1 by hand (Build with Parameters), deploy all
        build = subprocess.run(
            ["jenkins/build-poller.sh"],
            cwd=ROOT,
            env={**jobs[0].env, "CENTREON_ENGINE_VERSION": "19.04.1", "BUILD_NUMBER": "100"},  # type: ignore[dict-item]
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
        r = subprocess.run(
            ["jenkins/deploy-poller.sh"],
            cwd=ROOT,
            env={**agent, "INVENTORY": str(inventory), "HOSTNAME": " ".join(hosts), "PREPARE_HOST": "false"},
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        assert versions() == dict.fromkeys(hosts, "19.04.1")

        # a new release: the canary gets it, the others do not until the soak has passed
        release("19.04.2")
        reconcile_until(lambda: versions()["pftc01"] == "19.04.2", "the canary on 19.04.2")
        assert versions() == {"pftc01": "19.04.2", "pftc02": "19.04.1", "pftc03": "19.04.1"}
        reconcile_until(lambda: set(versions().values()) == {"19.04.2"}, "the fleet on 19.04.2 after the soak")

        # a release that starts healthy and stops a little later: the canary only, then blocked
        release("19.04.3")
        reconcile_until(lambda: versions()["pftc01"] == "19.04.3", "the canary on 19.04.3")
        reconcile_until(
            lambda: any("turned unhealthy on 19.04.3" in s for s in said) and versions()["pftc01"] == "19.04.2",
            "19.04.3 blocked and the canary back on the promoted image",
        )
        audit = (tmp_path / "audit.log").read_text()
        assert "pftc01 turned unhealthy on 19.04.3" in audit
        shown = pollerfleet(cfg, "rollout").stdout
        assert "blocked by canary pftc01: pftc01 turned unhealthy on 19.04.3" in shown, shown

        # the next good release goes through
        release("19.04.4")
        reconcile_until(lambda: set(versions().values()) == {"19.04.4"}, "the fleet on 19.04.4")

        deploys = standin.builds_of("deploy-centreon-poller")
        others = [b for b in deploys if b.params.get("HOSTNAME") != "pftc01"]
        assert not any(":19.04.3-" in b.params.get("POLLER_IMAGE", "") for b in others)
        spans = [(b.started, b.started + b.duration_ms / 1000) for b in deploys if not b.building]
        most = max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)
        assert most <= BUDGET
    finally:
        standin.stop()
        server.stop()
        for h in hosts:
            docker("rm", "-f", engines[h], check=False)
            docker("network", "rm", docker.name(f"ec-net-{h}"), check=False)
