"""check_poller_container against the real test daemon, one container state at a time."""

from __future__ import annotations

import re
import time

import pytest

from tests.helpers import Docker, run_plugin, wait_for

pytestmark = pytest.mark.docker
UPTIME = r"up \d+[smhd](\d+[smhd])?"


def check(docker: Docker, *args: str) -> tuple[int, str, str]:
    r = run_plugin("check_poller_container", "--docker-url", docker.host, *args)
    assert r.err == "", r.err
    assert "Traceback" not in r.out
    return r.rc, r.out.rstrip("\n"), r.line


def test_running_container_is_ok_with_perfdata(docker: Docker) -> None:
    name = docker.run("engine-ok")
    rc, out, _ = check(docker, "-n", name)
    assert rc == 0
    assert re.fullmatch(
        rf"CONTAINER OK - {name} running \(image 1, {UPTIME}\) \| restarts=0c;;;0 uptime=\d+s;;;0", out
    ), out


def test_default_name_is_centreon_engine(docker: Docker) -> None:
    present = docker("ps", "-aq", "--filter", "name=^/centreon-engine$").strip()
    rc, out, _ = check(docker)  # no -n: looks for centreon-engine
    if present:  # another run left one: the verdict is exactly that of `-n centreon-engine`
        named_rc, named, _ = check(docker, "-n", "centreon-engine")
        assert (rc, out.split(" (")[0]) == (named_rc, named.split(" (")[0]), (out, named)
        assert "centreon-engine" in out, out
    else:  # the one right answer for a missing container
        assert (rc, out.split(" - ")[0]) == (2, "CONTAINER CRITICAL") and "centreon-engine" in out, out


def test_missing_container_is_critical_and_names_what_exists(docker: Docker) -> None:
    engine = docker.run("typo-centreon-engine")
    rc, out, _ = check(docker, "-n", engine[:-1])  # as `-n centreon-engin`
    assert rc == 2
    # the closest names first, a few at most: what an operator needs to see a typo
    assert out.startswith(f"CONTAINER CRITICAL - {engine[:-1]} missing (containers on this host: {engine}"), out
    assert out.endswith(")") and out.count(", ") <= 5, out


def test_exited_container_reports_its_exit_code(docker: Docker) -> None:
    name = docker.run("exited", cmd=("sh", "-c", "exit 137"))
    wait_for(lambda: docker.state(name) == "exited", what="exit")
    rc, out, _ = check(docker, "-n", name)
    assert (rc, out) == (2, f"CONTAINER CRITICAL - {name} exited with code 137 | restarts=0c;;;0")


def test_created_but_never_started_is_critical(docker: Docker) -> None:
    name = docker.name("created")
    docker("rm", "-f", name, check=False)
    docker("create", "--name", name, "--network", "none", "pollerfleet-test/busybox:1", "true")
    rc, out, _ = check(docker, "-n", name)
    assert (rc, out) == (2, f"CONTAINER CRITICAL - {name} created but never started | restarts=0c;;;0")


def test_paused_container_is_critical(docker: Docker) -> None:
    name = docker.run("paused")
    docker("pause", name)
    rc, out, _ = check(docker, "-n", name)
    docker("unpause", name)
    assert rc == 2
    assert out == f"CONTAINER CRITICAL - {name} paused | restarts=0c;;;0"


def test_restarting_through_restart_policy_is_critical(docker: Docker) -> None:
    name = docker.run("restarting", "--restart", "always", cmd=("sh", "-c", "sleep 0.1; exit 4"))
    # Docker's back-off doubles the delay; after a few restarts the container spends most of its
    # time "restarting". Catch it in that state.
    wait_for(lambda: int(docker.state(name, "{{.RestartCount}}")) >= 4, timeout=60, what="4 restarts")
    deadline = time.monotonic() + 60  # a loaded machine may see it running a few times in a row
    while True:
        rc, out, _ = check(docker, "-n", name)
        if "restarting" in out or time.monotonic() > deadline:
            break
    assert rc == 2, out
    assert re.fullmatch(
        rf"CONTAINER CRITICAL - {name} restarting \(last exit code 4, \d+ restarts\) \| restarts=\d+c;;;0", out
    ), out
    docker("rm", "-f", name)


def test_restart_thresholds_judge_the_restart_count(docker: Docker) -> None:
    # Fails twice (the count survives in the container's own filesystem), then stays up:
    # running with RestartCount 2.
    script = (
        'n=$(cat /count 2>/dev/null || echo 0); [ "$n" -ge 2 ] && exec sleep 100000; echo $((n + 1)) > /count; exit 1'
    )
    name = docker.run("flappy", "--restart", "on-failure", cmd=("sh", "-c", script))
    wait_for(
        lambda: docker.state(name, "{{.State.Status}} {{.RestartCount}}") == "running 2",
        timeout=60,
        what="running after two restarts",
    )
    rc, out, _ = check(docker, "-n", name, "--warning-restarts", "1", "--critical-restarts", "5")
    assert rc == 1, out
    assert out.startswith(f"CONTAINER WARNING - {name} restarted 2 times (outside range 0:1); {name} running")
    assert "restarts=2c;1;5;0" in out
    rc, out, _ = check(docker, "-n", name, "--critical-restarts", "1")
    assert rc == 2, out


@pytest.mark.parametrize(
    ("base", "health_args", "state", "expected"),
    [
        ("healthy", ("--health-cmd", "true", "--health-interval", "1s"), "healthy", 0),
        (
            "unhealthy",
            ("--health-cmd", "echo engine not running; exit 1", "--health-interval", "1s", "--health-retries", "1"),
            "unhealthy",
            2,
        ),
        ("starting", ("--health-cmd", "true", "--health-interval", "1h", "--health-start-period", "1h"), "starting", 1),
    ],
)
def test_health_states(docker: Docker, base: str, health_args: tuple[str, ...], state: str, expected: int) -> None:
    name = docker.run(base, *health_args)
    wait_for(lambda: docker.state(name, "{{.State.Health.Status}}") == state, timeout=30, what=state)
    rc, out, line = check(docker, "-n", name)
    assert rc == expected, out
    if state == "unhealthy":
        assert (
            line
            == f"CONTAINER CRITICAL - {name} running but unhealthy: engine not running | restarts=0c;;;0 "
            + line.rsplit(" ", 1)[-1]
        )
    elif state == "starting":
        assert re.fullmatch(
            rf"CONTAINER WARNING - {name} running \(image 1, {UPTIME}\), health check still "
            r"starting \| restarts=0c;;;0 uptime=\d+s;;;0",
            line,
        ), line
    else:
        assert line.startswith(f"CONTAINER OK - {name} running")


def test_oom_killed_container(docker: Docker) -> None:
    name = docker.run(
        "oom",
        "--memory",
        "16m",
        "--memory-swap",
        "16m",
        cmd=("sh", "-c", "x=$(head -c 200000000 /dev/zero | tr '\\0' a); sleep 1"),
    )
    wait_for(lambda: docker.state(name) == "exited", timeout=60, what="OOM exit")
    if docker.state(name, "{{.State.OOMKilled}}") != "true":
        pytest.skip("this kernel's memory cgroup did not OOM-kill; the unit test covers the flag")
    rc, out, _ = check(docker, "-n", name)
    assert rc == 2
    assert out == f"CONTAINER CRITICAL - {name} exited with code 137, OOM-killed | restarts=0c;;;0"


def test_several_names_problems_first(docker: Docker) -> None:
    ok = docker.run("multi-ok")
    bad = docker.name("multi-missing")
    rc, out, _ = check(docker, "-n", ok, "-n", bad)
    assert rc == 2
    assert re.fullmatch(
        rf"CONTAINER CRITICAL - {bad} missing \(containers on this host: [^)]*\); "
        rf"{ok} running \(image 1, {UPTIME}\) \| "
        rf"'{ok}_restarts'=0c;;;0 '{ok}_uptime'=\d+s;;;0",
        out,
    ), out


def test_uptime_threshold_flags_a_fresh_restart(docker: Docker) -> None:
    name = docker.run("fresh")
    rc, out, _ = check(docker, "-n", name, "--warning-uptime", "3600:")
    assert rc == 1
    assert re.match(rf"CONTAINER WARNING - {name} {UPTIME} \(outside range 3600:\); {name} running", out), out
    assert re.search(r"uptime=\d+s;3600:;;0", out)


def test_plain_tcp_with_no_tls(docker: Docker) -> None:
    name = docker.run("tcp")
    r = run_plugin("check_poller_container", "--docker-url", docker.tcp, "--no-tls", "-n", name)
    assert r.rc == 0, r.out
    r = run_plugin("check_poller_container", "--docker-url", docker.tcp, "-n", name)
    assert r.rc == 3
    assert r.line.startswith(f"CONTAINER UNKNOWN - {docker.tcp} needs TLS: give --tls-dir DIR")
