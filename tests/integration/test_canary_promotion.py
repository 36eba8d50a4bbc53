"""Canary promotion's desired-image rule against the real registry and the test daemon: the
channel tag and a blocked-<hex> tag, moved by the registry client's manifest PUT, give `pollerfleet
desired` (what jenkins/deploy-poller.sh asks on the agent), the image check and reconcile's
redeploy the same answer; without a canary the rule is today's."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from pollerfleet.clients.registry import RegistryClient, settings_for
from pollerfleet.core.config import RegistrySettings
from pollerfleet.images.promotion import block_tag
from pollerfleet.images.promotion_state import PromotionState
from tests.helpers import ROOT, Docker, pollerfleet, run_plugin, wait_for, write_fleet_config, write_inventory
from tests.registry_tools import build_and_push
from tests.standins.jenkins import JenkinsStandin, Job

pytestmark = [pytest.mark.docker, pytest.mark.registry]


def _digest(docker: Docker, ref: str) -> str:
    return str(json.loads(docker("image", "inspect", "-f", "{{json .RepoDigests}}", ref))[-1].split("@")[1])


def fleet_inventory(
    path: Path, repo: str, docker: Docker, engines: dict[str, str], canaries: tuple[str, ...] = ()
) -> Path:
    """The pollers (host -> its engine container on the test daemon), CANARIES marked as canaries."""
    hosts = {
        h: {
            "poller_docker_url": docker.host,
            "centreon_poller_engine_name": n,
            **({"poller_canary": True} if h in canaries else {}),
        }
        for h, n in engines.items()
    }
    return write_inventory(path, hosts, poller_image_repository=repo)


def test_promotion_gives_every_consumer_one_answer(docker: Docker, registry: str, tmp_path: Path) -> None:
    path = f"{docker.prefix.rstrip('-')}/canary"
    repo = f"{registry}/{path}"
    build_and_push(docker, f"{repo}:19.04.5-1", "19.04.5", nonce="c1")
    old = _digest(docker, f"{repo}:19.04.5-1")
    engines = {"poller-canary": docker.run("cn-a", image=f"{repo}:19.04.5-1")}
    engines["poller-other"] = docker.run("cn-b", image=f"{repo}:19.04.5-1")
    inv = fleet_inventory(tmp_path / "inventory.yml", repo, docker, engines)
    cfg = write_fleet_config(tmp_path, registry_address=registry, inventory=inv, registry={"cache_ttl": 0})

    def desired() -> dict[str, str]:
        r = pollerfleet(cfg, "desired", *engines)
        assert r.returncode == 0, r.stderr
        return dict(line.split() for line in r.stdout.splitlines())

    def check(host: str) -> tuple[int, str]:
        r = run_plugin(
            "check_poller_image",
            "--poller",
            host,
            "-n",
            engines[host],
            "--docker-url",
            docker.host,
            "--config",
            str(cfg),
        )
        assert r.err == "" and "Traceback" not in r.out, r.err + r.out
        return r.rc, r.out

    # no canary in the inventory: today's rule, the newest release for everyone
    build_and_push(docker, f"{repo}:19.04.5-2", "19.04.5", nonce="c2")
    new = _digest(docker, f"{repo}:19.04.5-2")
    assert set(desired().values()) == {f"{repo}:19.04.5-2@{new}"}

    # one canary, and the channel tag on the earlier image: only the canary gets the candidate
    fleet_inventory(inv, repo, docker, engines, canaries=("poller-canary",))
    client = RegistryClient(settings_for(RegistrySettings(allow_http=True), f"http://{registry}"))
    assert client.put_tag(path, old, "promoted") == old
    assert desired() == {"poller-canary": f"{repo}:19.04.5-2@{new}", "poller-other": f"{repo}:19.04.5-1@{old}"}
    rc, out = check("poller-other")
    assert rc == 0 and "the promoted image; 19.04.5-2 on 1 canary" in out, out
    rc, out = check("poller-canary")
    assert rc != 0 and "19.04.5-2" in out, out  # the canary is behind its candidate

    # the canary takes the candidate, which is then blocked (its tag, and the central's reason)
    docker("rm", "-f", engines["poller-canary"])
    engines["poller-canary"] = docker.run("cn-a", image=f"{repo}:19.04.5-2")
    PromotionState(tmp_path / "state").save(
        {new: {"first_seen": 1.0, "blocked": {"reason": "stopped running checks", "host": "poller-canary"}}}
    )
    client.put_tag(path, new, block_tag(new))
    assert set(desired().values()) == {f"{repo}:19.04.5-1@{old}"}
    # nor can an operator's choice take it (the deploy job's POLLER_IMAGE goes through the same rule)
    r = pollerfleet(cfg, "desired", "--image", f"{repo}:19.04.5-2@{new}", "poller-other")
    assert r.returncode != 0 and "is blocked by canary promotion" in r.stderr, r.stdout + r.stderr
    rc, out = check("poller-canary")
    assert rc == 2 and "blocked by canary promotion: stopped running checks (by poller-canary)" in out, out
    rc, out = check("poller-other")
    assert rc == 0, out

    # unblock: the operator's word (audited; the job cannot be asked without a Jenkins), then the
    # agent's side re-points the block tag at the promoted image: the candidate has a new round
    r = pollerfleet(cfg, "unblock", f"{repo}:19.04.5-2@{new}")
    assert r.returncode == 1 and "could not be triggered" in r.stdout, r.stdout + r.stderr
    assert set(desired().values()) == {f"{repo}:19.04.5-1@{old}"}  # the registry's tag still blocks it
    r = pollerfleet(cfg, "channel", "unblock", f"{repo}:19.04.5-2@{new}")
    assert r.returncode == 0, r.stdout + r.stderr
    assert desired() == {"poller-canary": f"{repo}:19.04.5-2@{new}", "poller-other": f"{repo}:19.04.5-1@{old}"}


def test_reconcile_soaks_promotes_and_blocks(docker: Docker, registry: str, tmp_path: Path) -> None:
    """The level-triggered loop: reconcile measures the soak, asks the promote-centreon-poller job
    (which runs jenkins/promote-poller.sh, as Jenkins would) to move the channel tag, then a canary
    that stops blocks the next candidate for every consumer."""
    path = f"{docker.prefix.rstrip('-')}/canary-loop"
    repo = f"{registry}/{path}"
    build_and_push(docker, f"{repo}:19.04.5-1", "19.04.5", nonce="l1")
    engines = {"poller-canary": docker.run("cl-a", image=f"{repo}:19.04.5-1")}
    engines["poller-other"] = docker.run("cl-b", image=f"{repo}:19.04.5-1")
    inv = fleet_inventory(tmp_path / "inventory.yml", repo, docker, engines, canaries=("poller-canary",))
    promote = Job(
        "promote-centreon-poller",
        ["ACTION", "POLLER_IMAGE"],
        command=["jenkins/promote-poller.sh"],
        cwd=str(ROOT),
        env={**os.environ, "POLLERFLEET": f"{sys.executable} -m pollerfleet", "PYTHONPATH": str(ROOT / "lib")},
        log_dir=str(tmp_path),
        duration=0.1,
    )
    # deploys stay "running": the test moves the canary itself, as a deploy would
    deploy = Job("deploy-centreon-poller", ["HOSTNAME", "POLLER_IMAGE", "PREPARE_HOST"], duration=600)
    standin = JenkinsStandin({"pollerfleet": "tok"}, [promote, deploy]).start()
    try:
        cfg = write_fleet_config(
            tmp_path,
            jenkins_url=standin.url,
            token="tok",
            registry_address=registry,
            inventory=inv,
            registry={"cache_ttl": 0},
            rollout={"soak_minutes": 0.05},
        )
        promote.env["POLLERFLEET_CONFIG"] = str(cfg)  # type: ignore[index]

        def reconcile() -> str:
            r = pollerfleet(cfg, "reconcile", "--no-rebuild")
            return r.stdout + r.stderr

        def promoted_builds() -> int:
            return sum(1 for b in standin.builds_of(promote.name) if not b.building and b.result == "SUCCESS")

        def desired() -> dict[str, str]:
            r = pollerfleet(cfg, "desired", *engines)
            assert r.returncode == 0, r.stderr
            return {h: ref.rsplit(":", 2)[-2].split("@")[0] for h, ref in (x.split() for x in r.stdout.splitlines())}

        out = reconcile()  # nothing promoted yet: the first image is the baseline
        assert "promotion" in out and "triggered" in out, out
        wait_for(lambda: promoted_builds() == 1, 60, what="the baseline promotion")
        build_and_push(docker, f"{repo}:19.04.5-2", "19.04.5", nonce="l2")
        assert desired() == {"poller-canary": "19.04.5-2", "poller-other": "19.04.5-1"}

        docker("rm", "-f", engines["poller-canary"])
        engines["poller-canary"] = docker.run("cl-a", image=f"{repo}:19.04.5-2")
        out = reconcile()
        assert "soaking" in out, out
        time.sleep(4)
        out = reconcile()
        assert "ran healthy on 1 canaries" in out, out
        wait_for(lambda: promoted_builds() == 2, 60, what="the promotion")
        assert desired() == {"poller-canary": "19.04.5-2", "poller-other": "19.04.5-2"}

        # the next image: the canary takes it, then stops; the others never get it
        build_and_push(docker, f"{repo}:19.04.5-3", "19.04.5", nonce="l3")
        docker("rm", "-f", engines["poller-canary"])
        engines["poller-canary"] = docker.run("cl-a", image=f"{repo}:19.04.5-3")
        assert "soaking" in reconcile()
        docker("stop", "-t", "1", engines["poller-canary"])
        out = reconcile()
        assert "poller-canary turned unhealthy on 19.04.5-3" in out, out
        wait_for(lambda: promoted_builds() == 3, 60, what="the block")
        assert desired() == {"poller-canary": "19.04.5-2", "poller-other": "19.04.5-2"}
        audit = (tmp_path / "audit.log").read_text()
        assert '"kind": "promotion"' in audit and "turned unhealthy" in audit
        shown = pollerfleet(cfg, "rollout").stdout
        assert "canary promotion: canaries poller-canary" in shown, shown
        assert "19.04.5-3@" in shown and ": blocked by canary poller-canary: poller-canary turned unhealthy" in shown
        assert "19.04.5-2@" in shown and ": promoted at " in shown, shown
    finally:
        standin.stop()
