"""`pollerfleet reconcile`: the level-triggered safety net, against the real daemon and registry
and the Jenkins stand-in."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import pytest

from tests.helpers import Docker, handler, pollerfleet, run_plugin, write_fleet_config, write_inventory
from tests.registry_tools import build_and_push
from tests.standins.jenkins import JenkinsStandin, Job

pytestmark = [pytest.mark.docker, pytest.mark.registry, pytest.mark.jenkins]
TOKEN = "r3concile-token"
JOB = "deploy-centreon-poller"


def write(tmp: Path, jenkins_url: str, docker: Docker, hosts: dict[str, str], registry: str, repo: str = "") -> Path:
    """HOSTS: inventory host -> its engine container's name (all on the test daemon)."""
    inv = write_inventory(
        tmp / "inventory.yml",
        {h: {"poller_docker_url": docker.host, "centreon_poller_engine_name": n} for h, n in hosts.items()},
        poller_image_repository=repo or "none",
    )
    return write_fleet_config(tmp, jenkins_url=jenkins_url, token=TOKEN, registry_address=registry, inventory=inv)


def test_jenkins_down_at_the_event_then_reconcile_redeploys(docker: Docker, registry: str, tmp_path: Path) -> None:
    repo = f"{registry}/{docker.prefix.rstrip('-')}/reconcile"
    build_and_push(docker, f"{repo}:19.04.1", "19.04.1")
    # the engine container of two hosts (both on the test daemon, told apart by container name)
    stale = docker.run("rc-stale", image=f"{repo}:19.04.1")
    build_and_push(docker, f"{repo}:19.04.5", "19.04.5")
    fresh = docker.run("rc-fresh", image=f"{repo}:19.04.5")

    # 1. Jenkins is down when the image service goes CRITICAL HARD: the handler logs, and gives up
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    down_url = f"http://127.0.0.1:{s.getsockname()[1]}/"
    s.close()
    (tmp_path / "down").mkdir()
    cfg_down = write(tmp_path / "down", down_url, docker, {"poller01": stale}, registry, repo)
    r = subprocess.run(
        [
            *handler("handle_poller_redeploy", "CRITICAL", "HARD", "3", "poller01", config=cfg_down),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert r.returncode == 0 and r.stdout.startswith("redeploy poller01: error: cannot connect to Jenkins")

    # 2. Jenkins is back; cron runs reconcile: the stale host is redeployed, the fresh one is not
    # a deploy job that reports SUCCESS and changes nothing
    job = Job(JOB, ["HOSTNAME", "POLLER_IMAGE", "PREPARE_HOST"], duration=0.2)
    standin = JenkinsStandin({"pollerfleet": TOKEN}, [job]).start()
    newest = json.loads(docker("image", "inspect", "-f", "{{json .RepoDigests}}", f"{repo}:19.04.5"))[-1]
    desired = f"{repo}:19.04.5@{newest.split('@')[1]}"
    try:
        cfg = write(tmp_path, standin.url, docker, {"poller01": stale, "poller02": fresh}, registry, repo)
        dry = pollerfleet(cfg, "reconcile", "--critical-behind", "0", "--dry-run", "-n", stale, "--host", "poller01")
        assert dry.returncode == 0, dry.stdout + dry.stderr
        assert f"redeploy poller01: would-trigger: {JOB} with HOSTNAME=poller01 POLLER_IMAGE={desired}" in dry.stdout
        assert standin.triggered(JOB) == []

        # each inventory host's container is named differently here; production uses centreon-engine
        out = []
        for host, name in (("poller01", stale), ("poller02", fresh)):
            r = pollerfleet(cfg, "reconcile", "--critical-behind", "0", "-n", name, "--host", host)
            assert r.returncode == 0, r.stdout + r.stderr
            out.append(r.stdout)
        assert out[0].splitlines()[0] == (
            f"redeploy poller01: triggered (queue item 101): {JOB} with HOSTNAME=poller01 POLLER_IMAGE={desired}"
        )
        assert out[1].startswith(f"poller02: no redeploy needed: {fresh} runs 19.04.5, the newest image")
        assert [p["HOSTNAME"] for p in standin.triggered(JOB)] == ["poller01"]

        # 3. the next cron run: the build ended SUCCESS and the host still runs 19.04.1 -> that
        #    build is no-progress (it counts for the breaker); cooling down -> nothing new
        standin.wait_idle()
        r = pollerfleet(cfg, "reconcile", "--critical-behind", "0", "-n", stale, "--host", "poller01")
        assert (
            f"redeploy poller01: no-progress (build #1): {JOB} #1 ended SUCCESS but poller01 does not run {desired}"
            in r.stdout
        )
        assert "redeploy poller01: skipped" in r.stdout
        assert len(standin.triggered(JOB)) == 1
        audit = [json.loads(line) for line in (tmp_path / "audit.log").read_text().splitlines()]
        assert [(a["source"], a["action"]) for a in audit] == [
            ("reconcile", "would-trigger"),
            ("reconcile", "triggered"),
            ("reconcile", "no-progress"),
            ("reconcile", "skipped"),
        ]

        # 4. within the rollout grace period (default: CRITICAL after 1 day) nothing is redeployed
        r = pollerfleet(cfg, "reconcile", "-n", stale, "--host", "poller01")
        assert "(within the rollout grace period)" in r.stdout and "redeploy poller01" not in r.stdout
    finally:
        standin.stop()


def test_unreachable_host_is_reported_not_redeployed(docker: Docker, registry: str, tmp_path: Path) -> None:
    standin = JenkinsStandin({"pollerfleet": TOKEN}, [Job(JOB, ["HOSTNAME"])]).start()
    try:
        cfg = write(tmp_path, standin.url, docker, {"poller09": "x"}, registry, "127.0.0.1:9/none")
        inv = tmp_path / "inventory.yml"
        inv.write_text(inv.read_text().replace(docker.host, f"unix://{tmp_path}/nowhere.sock"))
        r = pollerfleet(cfg, "reconcile", "--critical-behind", "0")
        # cron must not see a safety net that evaluated nothing as a working one
        assert r.returncode == 3, r.stdout + r.stderr
        assert r.stdout == (
            f"poller09: not evaluated: no Docker socket at unix://{tmp_path}/nowhere.sock\n"
            "reconcile: 1 hosts, 1 NOT EVALUATED, 0 stale, 0 redeployed\n"
        )
        assert standin.triggered(JOB) == []
    finally:
        standin.stop()


def test_an_image_built_on_the_host_is_redeployed_without_grace(docker: Docker, registry: str, tmp_path: Path) -> None:
    """The right tag, built on the host (no registry digest): no rollout grace, the image is not ours."""
    repo = f"{registry}/{docker.prefix.rstrip('-')}/wrong"
    build_and_push(docker, f"{repo}:19.04.5", "19.04.5")
    right = docker.run("rc-right", image=f"{repo}:19.04.5")
    build_and_push(docker, f"{repo}:19.04.5", "19.04.5", nonce="built-here", push=False)
    wrong = docker.run("rc-wrong", image=f"{repo}:19.04.5")
    standin = JenkinsStandin({"pollerfleet": TOKEN}, [Job(JOB, ["HOSTNAME", "POLLER_IMAGE", "PREPARE_HOST"])]).start()
    try:
        cfg = write(tmp_path, standin.url, docker, {"poller01": wrong, "poller02": right}, registry, repo)
        out = []
        for host, name in (("poller01", wrong), ("poller02", right)):  # the default grace: CRITICAL after 1 day
            r = pollerfleet(cfg, "reconcile", "-n", name, "--host", host)
            assert r.returncode == 0, r.stdout + r.stderr
            out.append(r.stdout)
        assert (
            f"redeploy poller01: triggered (queue item 101): {JOB} with HOSTNAME=poller01 POLLER_IMAGE={repo}:19.04.5@"
            in (out[0])
        ), out[0]
        assert out[1].startswith(f"poller02: no redeploy needed: {right} runs 19.04.5, the newest image"), out[1]
        assert [p["HOSTNAME"] for p in standin.triggered(JOB)] == ["poller01"]
    finally:
        standin.stop()


def test_verify_agrees_with_the_check_on_the_repository(docker: Docker, registry: str, tmp_path: Path) -> None:
    """The desired digest under another repository is not the desired image for `pollerfleet verify`
    either: the check, reconcile and the deploy job's last step judge by one rule."""
    repo = f"{registry}/{docker.prefix.rstrip('-')}/verify"
    build_and_push(docker, f"{repo}:19.04.5", "19.04.5")
    digest = json.loads(docker("image", "inspect", "-f", "{{json .RepoDigests}}", f"{repo}:19.04.5"))[-1].split("@")[1]
    other = f"{registry}/{docker.prefix.rstrip('-')}/verify-other:19.04.5"
    docker("tag", f"{repo}:19.04.5", other)
    docker("push", other)  # the same content, pushed under another repository
    right = docker.run("vf-right", image=f"{repo}:19.04.5")
    elsewhere = docker.run("vf-other", image=other)
    cfg = write(tmp_path, "", docker, {"poller01": elsewhere, "poller02": right}, registry, repo)
    reference = f"{repo}:19.04.5@{digest}"
    r = pollerfleet(cfg, "verify", "poller02", reference)
    assert (r.returncode, r.stdout) == (0, f"poller02: {right} runs {reference} (running)\n"), r.stderr
    r = pollerfleet(cfg, "verify", "poller01", reference)
    assert (r.returncode, r.stdout) == (1, ""), r.stdout
    assert r.stderr.startswith(f"poller01: {elsewhere} does not run {reference} (it runs {other} sha256:"), r.stderr
    rc = run_plugin(
        "check_poller_image", "--docker-url", docker.host, "-n", elsewhere, "--config", str(cfg), "--poller", "poller01"
    )
    assert rc.rc == 2 and "not an image of the desired repository" in rc.line, rc.line
    # the right image, but the container is down: judged as check_poller_container judges it
    docker("kill", right)
    r = pollerfleet(cfg, "verify", "poller02", reference)
    assert (r.returncode, r.stdout) == (1, ""), r.stdout
    assert r.stderr.startswith(f"poller02: {right} runs 19.04.5@{digest[:19]} but is CRITICAL: {right} exited"), (
        r.stderr
    )
