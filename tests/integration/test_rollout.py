"""`pollerfleet rollout` against a real fleet on the test daemon, the real registry and the Jenkins
stand-in: versions as bars with the desired one marked, a pin from host_vars/, a running and a
queued deploy, the breaker and the audit log, for a terminal and as JSON, once and --watch."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers import Docker, pollerfleet, pollerfleet_command, write_fleet_config, write_inventory
from tests.registry_tools import build_and_push
from tests.standins.jenkins import JenkinsStandin, Job

pytestmark = [pytest.mark.docker, pytest.mark.registry, pytest.mark.jenkins]
TOKEN = "r0llout-token"
JOB = "deploy-centreon-poller"


def test_rollout_view(docker: Docker, registry: str, tmp_path: Path) -> None:
    repo = f"{registry}/{docker.prefix.rstrip('-')}/rollout"
    build_and_push(docker, f"{repo}:19.04.1", "19.04.1", nonce="r1")
    build_and_push(docker, f"{repo}:19.04.5", "19.04.5", nonce="r5")
    old = docker.run("ro-a", image=f"{repo}:19.04.1")
    old_b = docker.run("ro-b", image=f"{repo}:19.04.1")
    new = docker.run("ro-c", image=f"{repo}:19.04.5")
    held = docker.run("ro-d", image=f"{repo}:19.04.1")
    engines = {"poller-a": old, "poller-b": old_b, "poller-c": new, "poller-d": held}
    hosts: dict[str, dict[str, object]] = {
        h: {"poller_docker_url": docker.host, "centreon_poller_engine_name": n} for h, n in engines.items()
    }
    hosts["poller-gone"] = {"poller_docker_url": f"unix://{tmp_path}/nowhere.sock"}
    inv = write_inventory(tmp_path / "inventory.yml", hosts, poller_image_repository=repo)
    (tmp_path / "host_vars").mkdir()
    (tmp_path / "host_vars" / "poller-d.yml").write_text("poller_image_tag: '19.04.1'\n")  # the operator's hold
    digest = {
        tag: json.loads(docker("image", "inspect", "-f", "{{json .RepoDigests}}", f"{repo}:{tag}"))[-1].split("@")[1]
        for tag in ("19.04.1", "19.04.5")
    }
    # one deploy at a time, each long enough to be seen running: the second waits in the queue
    job = Job(JOB, ["HOSTNAME", "POLLER_IMAGE", "PREPARE_HOST"], duration=60, max_concurrent=1)
    standin = JenkinsStandin({"pollerfleet": TOKEN}, [job]).start()
    try:
        cfg = write_fleet_config(
            tmp_path, jenkins_url=standin.url, token=TOKEN, registry_address=registry, inventory=inv
        )
        for host in ("poller-a", "poller-b"):
            r = pollerfleet(cfg, "redeploy", host)
            assert r.returncode == 0 and ": triggered (queue item " in r.stdout, r.stdout + r.stderr

        deadline = time.monotonic() + 30  # the stand-in's scheduler: poller-a running, poller-b blocked behind it
        while not any(q.why.startswith("Already running") for q in standin.queue.values()):
            assert time.monotonic() < deadline, [vars(q) for q in standin.queue.values()]
            time.sleep(0.05)

        # JSON (with -vv on stderr: every request, the Jenkins token never)
        env = {**os.environ, "NO_COLOR": "1"}
        r = pollerfleet(cfg, "rollout", "--json", "-vv", env=env)
        assert r.returncode == 0, r.stderr
        doc = json.loads(r.stdout)
        v1, v5 = f"19.04.1@{digest['19.04.1'][:19]}", f"19.04.5@{digest['19.04.5'][:19]}"
        assert doc["versions"] == [
            {"version": v1, "hosts": ["poller-a", "poller-b", "poller-d"], "desired": False},
            {"version": v5, "hosts": ["poller-c"], "desired": True},
            {"version": "unreadable", "hosts": ["poller-gone"], "desired": False},
        ]
        assert doc["desired"] == [f"{repo}:19.04.5@{digest['19.04.5']}"]
        assert doc["held"] == {"poller-d": "19.04.1"}
        hosts = {h["host"]: h for h in doc["hosts"]}
        assert hosts["poller-d"]["desired"] == f"{repo}:19.04.1@{digest['19.04.1']}" and hosts["poller-d"]["on_desired"]
        assert hosts["poller-c"]["on_desired"] and not hosts["poller-a"]["on_desired"]
        assert hosts["poller-gone"]["error"].startswith("no Docker socket at ")
        running, queued = doc["jenkins"]["running"], doc["jenkins"]["queued"]
        assert [b["params"]["HOSTNAME"] for b in running] == ["poller-a"]
        assert [b["params"]["HOSTNAME"] for b in queued] == ["poller-b"]
        assert "Already running 1 builds" in queued[0]["why"]
        assert doc["breaker"] == {"open": False, "status": "closed"}
        decisions = [(d["host"], d["action"]) for d in doc["decisions"]]
        assert decisions == [("poller-a", "triggered"), ("poller-b", "triggered")]
        assert re.search(rf"GET {re.escape(standin.url)}queue/api/json\S* -> 200 in [\d.]+ ms", r.stderr), r.stderr
        assert TOKEN not in r.stdout + r.stderr and "Authorization" not in r.stderr

        # a terminal (script(1) gives it one): bars, the desired one marked and green
        command = shlex.join(pollerfleet_command(cfg, "rollout"))
        term_env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
        term_env.update({"COLUMNS": "100", "TERM": "xterm", "LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8"})
        t = subprocess.run(
            ["script", "-qec", command, "/dev/null"], capture_output=True, timeout=120, check=False, env=term_env
        )
        out = t.stdout.decode().replace("\r\n", "\n")
        assert t.returncode == 0, out
        assert "\033[32m\u2588" in out  # the desired version's bar, in green
        plain = re.sub(r"\033\[[0-9;]*m", "", out)
        lines = plain.splitlines()
        assert lines[0] == f"rollout: 2/5 hosts on their desired image (newest under the policy: {v5})"
        bar = {line.split()[0]: line for line in lines if line.startswith(("19.04", "unreadable"))}
        assert bar[v5].endswith("1  <- desired") and "<- desired" not in bar[v1]
        assert bar[v1].count("\u2588") == 3 * bar[v5].count("\u2588")  # 3 hosts against 1: bars to scale
        assert "  poller-d  held at 19.04.1, runs it" in lines
        assert f"deploys ({JOB}): 1 running, 1 queued" in lines
        assert any(re.fullmatch(rf"  running  #1  poller-a -> {re.escape(v5)}", line) for line in lines), lines
        assert any(line.startswith(f"  queued   item 102  poller-b -> {v5} (Already running") for line in lines)
        assert "circuit breaker: closed" in lines
        assert any("operator: redeploy poller-a: triggered (queue item 101)" in line for line in lines)

        # --watch refreshes until interrupted (JSON: one document per refresh)
        proc = subprocess.Popen(
            pollerfleet_command(cfg, "rollout", "--json", "--watch", "0.2"),
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        docs = [json.loads(proc.stdout.readline()) for _ in range(2)]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) in (0, 130)
        assert all(d["versions"] == doc["versions"] for d in docs)
    finally:
        standin.stop()
