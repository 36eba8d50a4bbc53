"""pollerfleet status / sweep: the whole fleet from one process, against the real daemon and
registry, compared with what the individual plugins say; --submit to a real nagios4."""

from __future__ import annotations

import itertools
import json
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.engine import COMMON, Engine, base_objects, define
from tests.helpers import Docker, pollerfleet, pollerfleet_command, run_plugin, wait_for
from tests.registry_tools import build_and_push

pytestmark = [pytest.mark.docker, pytest.mark.registry, pytest.mark.sweep]
BIN = Path(sys.executable).parent


@dataclass
class Fleet:
    cfg: Path
    docker: Docker
    hosts: dict[str, dict[str, object]]

    def pollerfleet(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return pollerfleet(self.cfg, *args, timeout=timeout)


@pytest.fixture(scope="module")
def fleet(
    docker: Docker, registry: str, tmp_path_factory: pytest.TempPathFactory, hanging_port: int
) -> Iterator[Fleet]:
    tmp = tmp_path_factory.mktemp("sweep")
    repo = f"{registry}/{docker.prefix.rstrip('-')}/sweep-engine"
    build_and_push(docker, f"{repo}:19.04.1", "19.04.1", nonce="s1")
    build_and_push(docker, f"{repo}:19.04.5", "19.04.5", nonce="s5")
    net = docker.name("sweep-net")
    docker("network", "create", "--internal", net)
    fresh = docker.run("sw-fresh-engine", image=f"{repo}:19.04.5")
    stale = docker.run("sw-stale-engine", image=f"{repo}:19.04.1")
    vm_engine = docker.run("sw-vm-engine", image=f"{repo}:19.04.5", network=net)
    docker.run("sw-vm-vmware", cmd=("sh", "-c", "exit 3"), network=net)  # the connector died
    # a health check whose output carries '|': it must not become perfdata, here or in the plugin
    piped = docker.run(
        "sw-pipe-engine",
        "--health-cmd",
        "echo 'engine down | pipe=0'; exit 1",
        "--health-interval",
        "1s",
        "--health-retries",
        "1",
        image=f"{repo}:19.04.5",
    )
    hosts: dict[str, dict[str, object]] = {
        "poller-fresh": {"poller_docker_url": docker.host, "centreon_poller_engine_name": fresh},
        "poller-stale": {"poller_docker_url": docker.host, "centreon_poller_engine_name": stale},
        "poller-vmdown": {
            "poller_docker_url": docker.host,
            "centreon_poller_engine_name": vm_engine,
            "poller_vmware_enabled": True,
            "centreon_poller_vmware_name": docker.name("sw-vm-vmware"),
        },
        "poller-pipe": {"poller_docker_url": docker.host, "centreon_poller_engine_name": piped},
        "poller-gone": {"poller_docker_url": f"unix://{tmp}/nowhere.sock"},
        "poller-hung": {"poller_docker_url": f"tcp://127.0.0.1:{hanging_port}"},
    }
    inv = tmp / "inventory.json"
    inv.write_text(json.dumps({"all": {"children": {"pollers": {"hosts": hosts}}}}))
    cfg = tmp / "fleet.toml"
    cfg.write_text(
        f'[docker]\ntls = false\n[registry]\nurl = "http://{registry}"\nallow_http = true\n'
        f'cache_dir = "{tmp / "cache"}"\n[fleet]\ninventory = "{inv}"\n'
    )
    wait_for(
        lambda: docker.state(piped, "{{.State.Health.Status}}") == "unhealthy", 30, what="the piped engine unhealthy"
    )
    yield Fleet(cfg, docker, hosts)
    # the network outlives the session's containers otherwise, and a daemon has only so many address pools
    docker("rm", "-f", vm_engine, docker.name("sw-vm-vmware"), check=False)
    docker("network", "rm", net, check=False)


def plugin_lines(fleet: Fleet, host: str) -> dict[str, tuple[int, str]]:
    """What the individual plugins say for HOST: exit code and whole status line (the reference
    the sweep must match)."""
    v = fleet.hosts[host]
    url = str(v["poller_docker_url"])
    base = ["--docker-url", url, "--no-tls", "--config", str(fleet.cfg), "-t", "2"]
    engine = str(v.get("centreon_poller_engine_name", "centreon-engine"))
    runs = {
        "docker": run_plugin("check_docker_host", *base),
        "container": run_plugin("check_poller_container", *base, "-n", engine),
        "image": run_plugin("check_poller_image", *base, "-n", engine, "--poller", host),
        "vmware": run_plugin(
            "check_poller_vmware",
            *base,
            "--engine",
            engine,
            "-n",
            str(v.get("centreon_poller_vmware_name", "centreon-vmware")),
            "--expect",
            "present" if v.get("poller_vmware_enabled") else "absent",
        ),
    }
    return {k: (r.rc, timeless(r.line)) for k, r in runs.items()}


def timeless(line: str) -> str:
    """A status line with its clock readings masked (the plugin and the sweep run seconds apart):
    durations in the text (each part of 23m41s too: the minute may turn between the two) and the
    age/lag/latency perfdata values."""
    line = re.sub(r"\d+(\.\d+)?( ?(ms|min|[smhd]|days?|hours?|minutes?|seconds?))(?:\b|(?=\d))", "N\\2", line)
    return re.sub(r"\b(age|lag|latency|uptime)=[\d.]+", "\\1=N", line)


def test_status_json_matches_the_plugins(fleet: Fleet) -> None:
    r = fleet.pollerfleet("status", "--json", "-t", "2")
    assert r.returncode == 2, r.stdout + r.stderr  # worst state: CRITICAL
    doc = {h["host"]: h for h in json.loads(r.stdout)}
    assert sorted(doc) == sorted(fleet.hosts)
    codes = {"OK": 0, "WARNING": 1, "CRITICAL": 2, "UNKNOWN": 3}
    for host in fleet.hosts:
        got = {
            "docker": (doc[host]["docker"]["code"], timeless(doc[host]["docker"]["line"])),
            **{k: (v["code"], timeless(v["line"])) for k, v in doc[host]["services"].items()},
        }
        want = plugin_lines(fleet, host)
        if host == "poller-hung":
            # a daemon that never answers: the plugin's -t alarm and the sweep's per-call timeout
            # race to say so, in their own words; the state is the same
            got, want = {k: v[0] for k, v in got.items()}, {k: v[0] for k, v in want.items()}  # type: ignore[misc]
        assert got == want, host  # whole lines: text and perfdata
    piped = doc["poller-pipe"]["services"]["container"]["line"]
    assert piped.count("|") == 1 and "engine down" in piped, piped  # the health output's '|' is not perfdata
    assert doc["poller-fresh"]["state"] == "OK"
    assert doc["poller-stale"]["services"]["image"]["line"].startswith("IMAGE WARNING - ")
    assert "runs 19.04.1, newest 19.04.5" in doc["poller-stale"]["services"]["image"]["line"]
    assert doc["poller-vmdown"]["services"]["vmware"]["line"].startswith("VMWARE CRITICAL - ")
    assert doc["poller-gone"]["docker"]["line"].startswith("DOCKER UNKNOWN - no Docker socket at ")
    assert doc["poller-hung"]["docker"]["line"] == (
        f"DOCKER UNKNOWN - docker at {fleet.hosts['poller-hung']['poller_docker_url']} did not answer within 2 s"
    )
    assert codes[doc["poller-hung"]["state"]] == 3


def test_a_hung_host_does_not_delay_the_others(fleet: Fleet) -> None:
    r = fleet.pollerfleet("status", "--json", "-t", "3")
    doc = {h["host"]: h for h in json.loads(r.stdout)}
    assert doc["poller-hung"]["seconds"] >= 3  # it waited for its own timeout ...
    for host in ("poller-fresh", "poller-stale", "poller-vmdown"):
        assert doc[host]["seconds"] < doc["poller-hung"]["seconds"], doc  # ... while the others did not wait for it


def test_status_table_and_filters(fleet: Fleet) -> None:
    r = fleet.pollerfleet("status", "--host", "poller-fresh", "--host", "poller-stale")
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["HOST", "DOCKER", "CONTAINER", "IMAGE", "VMWARE", "DETAIL"]
    assert lines[1].split()[:5] == ["poller-fresh", "OK", "OK", "OK", "OK"]
    assert lines[2].split()[:5] == ["poller-stale", "OK", "OK", "WARNING", "OK"]
    assert "\033[" not in r.stdout  # no colours when stdout is not a terminal
    assert r.returncode == 1
    r = fleet.pollerfleet("status", "--host", "nope")
    assert r.returncode != 0 and "nope is not in the inventory group [" in r.stderr


def test_sweep_prints_command_lines(fleet: Fleet) -> None:
    r = fleet.pollerfleet("sweep", "--host", "poller-stale", "-t", "2")
    lines = r.stdout.splitlines()
    assert len(lines) == 4
    assert lines[0].split("] ", 1)[1].startswith("PROCESS_HOST_CHECK_RESULT;poller-stale;0;DOCKER OK - ")
    assert (
        lines[2]
        .split("] ", 1)[1]
        .startswith("PROCESS_SERVICE_CHECK_RESULT;poller-stale;Poller image;1;IMAGE WARNING - ")
    )


def test_submit_refuses_what_is_not_a_pipe(fleet: Fleet, tmp_path: Path) -> None:
    regular = tmp_path / "cmd"
    regular.write_text("")
    r = fleet.pollerfleet("sweep", "--submit", "--command-file", str(regular), "--host", "poller-fresh")
    assert r.returncode == 1 and "is not a FIFO" in r.stderr
    r = fleet.pollerfleet(
        "sweep", "--submit", "--command-file", str(regular), "--allow-regular-file", "--host", "poller-fresh"
    )
    assert r.returncode == 0 and regular.read_text().count("\n") == 4

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    r = fleet.pollerfleet("sweep", "--submit", "--command-file", str(fifo), "--host", "poller-fresh", timeout=30)
    assert r.returncode == 1 and "no engine reads" in r.stderr  # no reader: refused at once, never blocks


def passive_objects(hosts: list[str]) -> str:
    out = [base_objects()]
    for h in hosts:
        out.append(define("host", use="pf-docker-host-passive", host_name=h, address="127.0.0.1", **COMMON))
        for svc, tpl in (
            ("Poller container", "pf-poller-container-passive"),
            ("Poller image", "pf-poller-image-passive"),
            ("Poller vmware", "pf-poller-vmware-passive"),
        ):
            out.append(define("service", use=tpl, host_name=h, service_description=svc, **COMMON))
    return "\n".join(out)


@pytest.mark.slow
def test_submit_to_a_real_engine(fleet: Fleet, tmp_path: Path) -> None:
    hosts = ["poller-fresh", "poller-stale", "poller-vmdown"]
    engine = Engine(tmp_path / "engine", passive_objects(hosts), resources={"USER1": str(BIN)}).start()
    try:
        args = ["sweep", "--submit", "--command-file", str(engine.command_file), "-t", "2"]
        r = fleet.pollerfleet(*args, *[x for h in hosts for x in ("--host", h)])
        assert r.returncode == 0, r.stdout + r.stderr
        assert r.stdout.startswith("sweep: 3 hosts, 12 results (")
        engine.wait(
            lambda: all(engine.service(h, "Poller image").get("has_been_checked") == "1" for h in hosts),
            30,
            "the passive results",
        )
        assert engine.service("poller-fresh", "Poller image")["current_state"] == "0"
        stale = engine.service("poller-stale", "Poller image")
        assert stale["current_state"] == "1" and "runs 19.04.1, newest 19.04.5" in stale["plugin_output"]
        assert engine.service("poller-vmdown", "Poller vmware")["current_state"] == "2"
        assert engine.host("poller-fresh")["current_state"] == "0"
        assert "restarts=0c" in engine.service("poller-fresh", "Poller container")["performance_data"]
    finally:
        engine.stop()
        time.sleep(0.1)


def test_a_terminal_gets_colours_and_a_progress_bar(fleet: Fleet, docker: Docker, tmp_path: Path) -> None:
    """On a terminal (script(1) gives it one) a fleet of more than 20 hosts shows a progress bar."""
    engine = str(fleet.hosts["poller-fresh"]["centreon_poller_engine_name"])
    hosts = {
        f"poller{i:02d}": {"poller_docker_url": docker.host, "centreon_poller_engine_name": engine} for i in range(25)
    }
    inv = tmp_path / "inventory.json"
    inv.write_text(json.dumps({"all": {"children": {"pollers": {"hosts": hosts}}}}))
    cfg = tmp_path / "fleet.toml"
    cfg.write_text(fleet.cfg.read_text().replace(str(fleet.cfg.parent / "inventory.json"), str(inv)))
    command = shlex.join(pollerfleet_command(cfg, "status", "-t", "5"))
    r = subprocess.run(["script", "-qec", command, "/dev/null"], capture_output=True, timeout=120, check=False)
    out = r.stdout.decode()  # bytes: text mode would turn the bar's carriage returns into newlines
    assert r.returncode == 0, out
    assert "] 25/25 hosts" in out and "\r[#" in out  # the bar, redrawn in place
    assert "\033[32mOK" in out  # states in colour
    assert out.count("poller") >= 25


def test_table_fits_its_content_and_wraps_detail_whole_on_a_terminal(fleet: Fleet, tmp_path: Path) -> None:
    long_name = "poller-with-a-rather-long-name.dc2.example.com"  # 46 characters
    stale = fleet.hosts["poller-stale"]
    hosts = {long_name: stale, "gone": fleet.hosts["poller-gone"]}
    inv = tmp_path / "inventory.json"
    inv.write_text(json.dumps({"all": {"children": {"pollers": {"hosts": hosts}}}}))
    cfg = tmp_path / "fleet.toml"
    cfg.write_text(fleet.cfg.read_text().replace(str(fleet.cfg.parent / "inventory.json"), str(inv)))
    # global options after the subcommand, -v on stderr
    doc = pollerfleet(None, "status", "--json", "--config", str(cfg), "-v")
    assert doc.returncode == 1 and f"configuration: {cfg}" in doc.stderr, doc.stderr  # WARNING beats UNKNOWN
    details = {h["host"]: h["detail"] for h in json.loads(doc.stdout)}
    assert "runs 19.04.1, newest 19.04.5" in details[long_name] and len(details[long_name]) > 60

    def terminal(*args: str, columns: int = 120, **env: str) -> str:
        command = shlex.join(pollerfleet_command(cfg, "status", "-t", "5", *args))
        environ = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
        environ.update({"COLUMNS": str(columns), "TERM": "xterm", **env})
        r = subprocess.run(
            ["script", "-qec", command, "/dev/null"], capture_output=True, timeout=120, check=False, env=environ
        )
        assert r.returncode == 1, r.stdout
        return r.stdout.decode().replace("\r\n", "\n")

    def detail_lines(lines: list[str], at: int, beside: bool) -> list[str]:
        row = next(i for i, line in enumerate(lines) if line.startswith(long_name))
        found = [lines[row][at:]] if beside else []
        for line in lines[row + 1 :]:
            if line[:at].strip():
                break
            found.append(line[at:])
        return found

    coloured = terminal()
    assert "\033[33mWARNING" in coloured
    for columns in (120, 100):  # beside the states; under the row when they leave too little room
        lines = re.sub(r"\033\[[0-9;]*m", "", terminal(columns=columns)).rstrip("\n").split("\n")
        assert lines[0].index("DOCKER") == len(long_name) + 2  # sized to the longest host name
        assert all(len(line) <= columns for line in lines), lines
        at = lines[0].index("DETAIL") if columns == 120 else 4
        wrapped = detail_lines(lines, at, beside=columns == 120)

        def aged(text: str) -> str:  # ages move on between the two runs (9m59s, then 10m)
            return re.sub(r"\d[\dsmhd]*", "N", text)

        same = aged(" ".join(wrapped)) == aged(details[long_name])
        assert len(wrapped) > 1 and same, (lines, details[long_name])  # whole, not cut
    for args, env in (((), {"NO_COLOR": "1"}), ((), {"TERM": "dumb"}), (("--no-color",), {}), (("--no-colour",), {})):
        assert "\033[3" not in terminal(*args, **env), (args, env)


# -- no input forges an engine command -------------------------------------------------------------
# (a "[...]" in a name is an Ansible host range: the inventory reader refuses those itself)
FORGED = ("poller02\n1700000000 DISABLE_NOTIFICATIONS", "poller03;0;FORGED UP")


def test_host_names_that_would_forge_engine_commands_are_refused(fleet: Fleet, tmp_path: Path) -> None:
    fresh = fleet.hosts["poller-fresh"]
    inv = tmp_path / "inventory.json"
    inv.write_text(
        json.dumps({"all": {"children": {"pollers": {"hosts": {"poller01": fresh, **{h: fresh for h in FORGED}}}}}})
    )
    cfg = tmp_path / "fleet.toml"
    cfg.write_text(fleet.cfg.read_text().split("[fleet]")[0] + f'[fleet]\ninventory = "{inv}"\n')
    forged = Fleet(cfg, fleet.docker, {})
    r = forged.pollerfleet("sweep", "-t", "2")
    assert r.returncode == 1, r.stderr
    assert [line.split(";")[1] for line in r.stdout.splitlines()] == ["poller01"] * 4  # nothing for the others
    assert "DISABLE_NOTIFICATIONS" not in r.stdout and "FORGED" not in r.stdout
    assert r.stderr.splitlines() == [
        "pollerfleet: inventory host 'poller02?1700000000 DISABLE_NOTIFICATIONS' is not a valid host name "
        "(RFC 1123): nothing is asked or submitted for it",
        "pollerfleet: inventory host 'poller03;0;FORGED UP' is not a valid host name (RFC 1123): nothing is "
        "asked or submitted for it",
    ]
    r = forged.pollerfleet("status", "-t", "2")
    assert len(r.stdout.splitlines()) == 4 and "\n1700000000" not in r.stdout  # one row per host


@pytest.mark.parametrize("name", ["Poller image;0;FORGED", "Poller image\n[1] DISABLE_NOTIFICATIONS", ""])
def test_service_names_that_would_forge_engine_commands_are_refused(fleet: Fleet, name: str) -> None:
    r = fleet.pollerfleet("sweep", "--host", "poller-fresh", f"--image-service={name}")
    assert (r.returncode, r.stdout) == (3, "")  # the CLI's usage error
    assert r.stderr.count("\n") == 1 and "argument --image-service: the service name " in r.stderr, r.stderr


def test_control_characters_from_a_health_check_reach_no_output(fleet: Fleet, docker: Docker, tmp_path: Path) -> None:
    name = docker.run(
        "sw-escapes",
        "--health-cmd",
        r"printf 'bad\033[2J\033]0;owned\007\r\nFORGED'; exit 1",
        "--health-interval",
        "1s",
        "--health-retries",
        "1",
    )
    from tests.helpers import wait_for

    wait_for(lambda: docker.state(name, "{{.State.Health.Status}}") == "unhealthy", 30, what="the health check to fail")
    r = run_plugin("check_poller_container", "--docker-url", docker.host, "-n", name)
    assert r.rc == 2 and r.err == ""
    assert r.out.startswith(f"CONTAINER CRITICAL - {name} running but unhealthy: bad [2J ]0;owned FORGED | ")
    assert r.out.count("\n") == 1 and not any(c in r.out for c in "\033\007\r")
    inv = tmp_path / "inventory.json"
    inv.write_text(
        json.dumps(
            {
                "all": {
                    "children": {
                        "pollers": {
                            "hosts": {
                                "poller01": {"poller_docker_url": docker.host, "centreon_poller_engine_name": name}
                            }
                        }
                    }
                }
            }
        )
    )
    cfg = tmp_path / "fleet.toml"
    cfg.write_text(fleet.cfg.read_text().split("[fleet]")[0] + f'[fleet]\ninventory = "{inv}"\n')
    r = Fleet(cfg, docker, {}).pollerfleet("sweep", "-t", "2")
    assert len(r.stdout.splitlines()) == 4, r.stdout
    assert "running but unhealthy: bad [2J ]0;owned FORGED" in r.stdout
    assert not any(c in r.stdout for c in "\033\007\r")


# -- every wait is bounded -------------------------------------------------------------------------
@pytest.fixture
def trickling_port() -> Iterator[int]:
    """A daemon that answers one byte a second, for ever: no single read ever times out."""
    import socket
    import threading

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.settimeout(0.2)
    stop = threading.Event()

    def trickle(conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            for byte in itertools.cycle(b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 64):
                if stop.wait(1):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            threading.Thread(target=trickle, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield srv.getsockname()[1]
    stop.set()
    srv.close()


def test_a_trickling_host_is_unknown_at_its_deadline_and_the_others_on_time(
    fleet: Fleet, tmp_path: Path, trickling_port: int
) -> None:
    hosts = {
        "poller-fresh": fleet.hosts["poller-fresh"],
        "poller-slow": {"poller_docker_url": f"tcp://127.0.0.1:{trickling_port}"},
    }
    inv = tmp_path / "inventory.json"
    inv.write_text(json.dumps({"all": {"children": {"pollers": {"hosts": hosts}}}}))
    cfg = tmp_path / "fleet.toml"
    cfg.write_text(fleet.cfg.read_text().split("[fleet]")[0] + f'[fleet]\ninventory = "{inv}"\n')
    r = Fleet(cfg, fleet.docker, hosts).pollerfleet("status", "--json", "-t", "2", "--host-timeout", "4", timeout=60)
    doc = {h["host"]: h for h in json.loads(r.stdout)}
    assert doc["poller-fresh"]["state"] == "OK", doc["poller-fresh"]
    assert doc["poller-slow"]["docker"]["line"] == (
        "DOCKER UNKNOWN - no complete answer within 4 s (--host-timeout); not asked further"
    )
    assert {s["code"] for s in doc["poller-slow"]["services"].values()} == {3}


def test_the_registry_is_asked_as_often_for_a_big_fleet_as_for_a_small_one(
    fleet: Fleet, registry: str, tmp_path: Path
) -> None:
    """The sweep asks the registry once per repository (one lock each, one cache for all): a fleet
    of 40 hosts costs the registry no more requests than a fleet of 10 or of 2."""
    from tests.standins.gateway import Gateway

    gw = Gateway(f"http://{registry}")
    engines = {h: v for h, v in fleet.hosts.items() if h in ("poller-fresh", "poller-stale")}
    counts = []
    try:
        for n in (2, 10, 40):
            hosts = {f"p{i:03d}": dict(list(engines.values())[i % 2]) for i in range(n)}
            work = tmp_path / f"n{n}"
            work.mkdir()
            inv = work / "inventory.json"
            inv.write_text(json.dumps({"all": {"children": {"pollers": {"hosts": hosts}}}}))
            cfg = work / "fleet.toml"
            cfg.write_text(
                f'[docker]\ntls = false\n[registry]\nurl = "{gw.url}"\nallow_http = true\n'
                f'cache_dir = "{work / "cache"}"\n[fleet]\ninventory = "{inv}"\n'
            )
            gw.reset()
            r = pollerfleet(cfg, "status", "--json", "-t", "5", timeout=120)
            doc = json.loads(r.stdout)
            assert len(doc) == n and all(h["services"]["image"]["code"] in (0, 1) for h in doc), r.stdout
            counts.append(gw.count)
    finally:
        gw.stop()
    assert counts[0] > 0 and counts == [counts[0]] * 3, counts
