"""handle_poller_redeploy and `pollerfleet redeploy/breaker` against the Jenkins stand-in.

The handler runs as the engine runs it: a subprocess with the engine's macro order. Jenkins is
the only component that is a stand-in (tests/standins/jenkins.py); it refuses what Jenkins
refuses (no crumb -> 403, bad token -> 401, unknown job -> 404).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import Docker, handler, pollerfleet, wait_for, write_fleet_config, write_inventory
from tests.registry_tools import build_and_push
from tests.standins.jenkins import JenkinsStandin, Job

pytestmark = [pytest.mark.jenkins, pytest.mark.docker, pytest.mark.registry]
TOKEN = "11d6c0ffee5ecret7oken"
JOB = "deploy-centreon-poller"


@dataclass
class Fleet:
    standin: JenkinsStandin
    config: Path
    audit: Path
    state_dir: Path
    hosts: list[str]

    def handler(self, *args: str, config: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            handler("handle_poller_redeploy", *args, config=config or self.config),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def handlers_at_once(self, hosts: list[str]) -> list[str]:
        """Start one HARD CRITICAL handler per entry of HOSTS at the same moment; their outputs."""
        procs = [
            subprocess.Popen(
                handler("handle_poller_redeploy", "CRITICAL", "HARD", "3", h, config=self.config),
                stdout=subprocess.PIPE,
                text=True,
            )
            for h in hosts
        ]
        return [p.communicate(timeout=120)[0] for p in procs]

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return pollerfleet(self.config, *args)

    def audit_lines(self) -> list[dict[str, object]]:
        if not self.audit.exists():
            return []
        return [json.loads(line) for line in self.audit.read_text().splitlines()]

    def triggered(self) -> list[str]:
        return [p["HOSTNAME"] for p in self.standin.triggered(JOB)]


def fleet_inventory(path: Path, hosts: list[str], image_repository: str, held: dict[str, str] | None = None) -> Path:
    """HOSTS in [pollers], each held at its tag in HELD, and notapoller in another group. The hosts'
    Docker is a socket that does not exist: nothing is asked beyond this machine."""
    held = held or {}
    return write_inventory(
        path,
        {h: {"poller_vmware_enabled": False, **({"poller_image_tag": held[h]} if h in held else {})} for h in hosts},
        other_groups={"other": {"notapoller": {}}},
        poller_image_repository=image_repository,
        poller_docker_url="unix:///nonexistent/docker.sock",
    )


def write_config(tmp_path: Path, url: str, hosts: list[str], registry: str, repo: str, **redeploy: object) -> Path:
    inv = fleet_inventory(tmp_path / "inventory.yml", hosts, f"{registry}/{repo}")
    return write_fleet_config(
        tmp_path, jenkins_url=url, token=TOKEN, registry_address=registry, inventory=inv, redeploy=redeploy
    )


@pytest.fixture(scope="module")
def image_repo(docker: Docker, registry: str) -> str:
    """A repository with one release in the test registry: the hosts' desired image."""
    repo = f"{docker.prefix.rstrip('-')}/handler-engine"
    build_and_push(docker, f"{registry}/{repo}:19.04.5", "19.04.5")
    return repo


@pytest.fixture(scope="module")
def desired(docker: Docker, registry: str, image_repo: str) -> str:
    """The reference the suite must find by itself, read here from the daemon that pushed it."""
    ref = f"{registry}/{image_repo}:19.04.5"
    pushed = json.loads(docker("image", "inspect", "-f", "{{json .RepoDigests}}", ref))
    return f"{ref}@{pushed[-1].split('@')[1]}"


@pytest.fixture
def make_fleet(tmp_path: Path, registry: str, image_repo: str) -> Iterator[object]:
    standins: list[JenkinsStandin] = []

    def make(
        n_hosts: int = 3, duration: float = 0.3, result: str = "SUCCESS", executors: int = 30, **redeploy: object
    ) -> Fleet:
        job = Job(
            JOB,
            ["HOSTNAME", "POLLER_IMAGE", "PREPARE_HOST"],
            duration=duration,
            result=result,
            one_per="HOSTNAME",
            defaults={"PREPARE_HOST": "true"},
        )
        standin = JenkinsStandin({"pollerfleet": TOKEN}, [job], executors=executors).start()
        standins.append(standin)
        hosts = [f"poller{i:02d}" for i in range(1, n_hosts + 1)]
        cfg = write_config(tmp_path, standin.url, hosts, registry, image_repo, **redeploy)
        return Fleet(standin, cfg, tmp_path / "audit.log", tmp_path / "state", hosts)

    yield make
    for s in standins:
        s.stop()


def test_soft_below_threshold_does_nothing(make_fleet) -> None:  # type: ignore[no-untyped-def]
    f = make_fleet()
    r = f.handler("CRITICAL", "SOFT", "1", "poller01")
    assert (r.returncode, r.stderr) == (0, "")
    assert r.stdout == "redeploy poller01: ignored: SOFT attempt 1: waiting for the HARD state\n"
    assert f.triggered() == []
    assert f.audit_lines()[-1]["action"] == "ignored"


def test_soft_from_configured_attempt_triggers(make_fleet) -> None:  # type: ignore[no-untyped-def]
    f = make_fleet(soft_attempt=2)
    assert f.handler("CRITICAL", "SOFT", "1", "poller01").stdout.startswith("redeploy poller01: ignored")
    r = f.handler("CRITICAL", "SOFT", "2", "poller01")
    assert r.stdout.startswith("redeploy poller01: triggered (queue item ")
    assert f.triggered() == ["poller01"]


def test_vv_shows_every_jenkins_request_on_stderr_never_the_token(make_fleet) -> None:  # type: ignore[no-untyped-def]
    f = make_fleet()
    r = f.handler("CRITICAL", "HARD", "3", "poller01", "-vv")
    assert r.returncode == 0 and r.stdout.startswith("redeploy poller01: triggered (queue item "), r.stdout
    url = re.escape(f.standin.url)
    requests = r.stderr.splitlines()
    assert any(re.fullmatch(rf"GET {url}crumbIssuer/api/json -> 200 in [\d.]+ ms", x) for x in requests), requests
    trigger = rf"POST {url}job/{JOB}/buildWithParameters\?HOSTNAME=poller01&.* -> 201 in [\d.]+ ms"
    assert any(re.fullmatch(trigger, x) for x in requests), requests
    assert TOKEN not in r.stdout + r.stderr and "Authorization" not in r.stderr and "Jenkins-Crumb" not in r.stderr
    assert f.handler("CRITICAL", "HARD", "3", "poller01").stderr == ""  # quiet without -v


@pytest.mark.parametrize("state", ["WARNING", "UNKNOWN"])
def test_warning_and_unknown_do_not_trigger(make_fleet, state: str) -> None:  # type: ignore[no-untyped-def]
    f = make_fleet()
    r = f.handler(state, "HARD", "3", "poller01")
    assert r.stdout == f"redeploy poller01: ignored: {state} does not trigger a redeploy (only CRITICAL does)\n"
    assert f.triggered() == []


def test_hard_critical_triggers_exactly_one_build_then_dedupes_and_cools_down(make_fleet, desired: str) -> None:  # type: ignore[no-untyped-def]
    f = make_fleet(duration=2.0)
    r = f.handler("CRITICAL", "HARD", "3", "poller01")
    assert r.returncode == 0 and r.stderr == ""
    queue_id = int(r.stdout.split("queue item ")[1].split(")")[0])
    assert r.stdout == (
        f"redeploy poller01: triggered (queue item {queue_id}): {JOB} with HOSTNAME=poller01 POLLER_IMAGE={desired}\n"
    )
    # every redeploy carries its target, digest included; automatic ones do not re-prepare the host
    assert f.standin.triggered(JOB) == [{"HOSTNAME": "poller01", "POLLER_IMAGE": desired, "PREPARE_HOST": "false"}]
    assert f.audit_lines()[-1]["image"] == desired
    assert f.triggered() == ["poller01"]
    # the same event again while queued or running: nothing new
    r = f.handler("CRITICAL", "HARD", "3", "poller01")
    assert re.fullmatch(
        rf"redeploy poller01: skipped \((queue item {queue_id}|build #1)\): a deploy for poller01 is "
        r"already (queued|running)\n",
        r.stdout,
    ), r.stdout
    assert f.triggered() == ["poller01"]
    f.standin.wait_idle()
    assert [b.result for b in f.standin.builds_of(JOB)] == ["SUCCESS"]
    # finished, but inside the cooldown
    r = f.handler("CRITICAL", "HARD", "3", "poller01")
    assert r.stdout.startswith("redeploy poller01: skipped: cooldown: last redeploy of poller01 triggered at ")
    assert f.triggered() == ["poller01"]
    # recovery is recorded; then an operator may force one despite the cooldown
    r = f.handler("OK", "HARD", "1", "poller01")
    assert r.stdout.startswith(f"redeploy poller01: recovered (queue item {queue_id}): image service OK")
    r = f.cli("redeploy", "poller01", "--force", "--wait")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"{JOB} #2 finished: SUCCESS" in r.stdout
    assert f.triggered() == ["poller01", "poller01"]
    actions = [a["action"] for a in f.audit_lines()]
    assert actions == ["triggered", "skipped", "skipped", "recovered", "triggered"]


def test_twenty_handlers_at_once_respect_the_budget(make_fleet) -> None:  # type: ignore[no-untyped-def]
    f = make_fleet(n_hosts=20, duration=30, budget=3)
    outs = f.handlers_at_once(f.hosts)
    assert len(f.triggered()) == 3, outs
    assert sum("triggered" in o for o in outs) == 3
    assert (
        sum("deferred: fleet budget reached: 3 deploy builds queued or running (budget 3)" in o for o in outs) == 17
    ), outs


def test_ten_handlers_at_once_for_one_host_trigger_once(make_fleet) -> None:  # type: ignore[no-untyped-def]
    f = make_fleet(duration=30)
    outs = f.handlers_at_once(["poller01"] * 10)
    assert f.triggered() == ["poller01"]
    assert sum("triggered" in o for o in outs) == 1
    assert (
        sum(
            bool(
                re.fullmatch(
                    r"redeploy poller01: skipped \((queue item \d+|build #1)\): a deploy for poller01 "
                    r"is already (queued|running)\n",
                    o,
                )
            )
            for o in outs
        )
        == 9
    ), outs


def test_hourly_cap(make_fleet) -> None:  # type: ignore[no-untyped-def]
    f = make_fleet(n_hosts=3, duration=0.1, hourly_cap=2)
    for h in ("poller01", "poller02"):
        assert "triggered" in f.handler("CRITICAL", "HARD", "3", h).stdout
    f.standin.wait_idle()
    r = f.handler("CRITICAL", "HARD", "3", "poller03")
    assert r.stdout == (
        "redeploy poller03: deferred: hourly cap reached: 2 redeploys triggered in the last hour (cap 2)\n"
    )


@pytest.mark.parametrize(
    ("result", "note"),
    [("FAILURE", ""), ("ABORTED", "; #1 ended ABORTED, #2 ended ABORTED, #3 ended ABORTED")],
    ids=["failure", "aborted-by-the-job-timeout"],
)
def test_breaker_trips_after_consecutive_failures_and_resets(make_fleet, result: str, note: str) -> None:  # type: ignore[no-untyped-def]
    f = make_fleet(n_hosts=5, duration=0.1, result=result, breaker_failures=3, cooldown_minutes=0)
    for h in ("poller01", "poller02", "poller03"):
        assert "triggered" in f.handler("CRITICAL", "HARD", "3", h).stdout
        f.standin.wait_idle()
    r = f.handler("CRITICAL", "HARD", "3", "poller04")
    assert r.stdout == (
        f"redeploy poller04: refused: circuit breaker tripped: 3 consecutive failed {JOB} builds "
        f"(#1, #2, #3{note}); automatic redeploys stop until `pollerfleet breaker reset`\n"
    )
    assert f.audit_lines()[-1]["reason"].startswith(f"circuit breaker tripped: 3 consecutive failed {JOB} builds (#1")
    r = f.handler("CRITICAL", "HARD", "3", "poller05")
    assert r.stdout.startswith("redeploy poller05: refused: circuit breaker open since ")
    r = f.cli("breaker", "status")
    assert r.returncode == 1 and r.stdout.startswith("circuit breaker open since ")
    assert len(f.triggered()) == 3
    r = f.cli("breaker", "reset")
    assert (r.returncode, r.stdout) == (0, f"circuit breaker reset; {JOB} builds up to #3 no longer count\n")
    assert f.cli("breaker", "status").returncode == 0
    assert "triggered" in f.handler("CRITICAL", "HARD", "3", "poller04").stdout


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("poller01;rm -rf /", "'poller01;rm -rf /' is not a valid host name (RFC 1123)"),
        ("../x", "'../x' is not a valid host name (RFC 1123)"),
        ("", "'' is not a valid host name (RFC 1123)"),
        ("a" * 300, "is not a valid host name (RFC 1123)"),
        ("poller-99", "poller-99 is not in the inventory group [pollers]"),
        ("notapoller", "notapoller is not in the inventory group [pollers]"),
    ],
)
def test_bad_host_names_are_refused_and_logged(make_fleet, host: str, reason: str) -> None:  # type: ignore[no-untyped-def]
    f = make_fleet()
    r = f.handler("CRITICAL", "HARD", "3", host)
    assert r.returncode == 0 and r.stderr == ""
    assert "refused" in r.stdout and reason in r.stdout, r.stdout
    assert f.triggered() == []
    last = f.audit_lines()[-1]
    assert last["action"] == "refused" and reason in str(last["reason"])


def test_option_like_host_name_is_refused_and_logged(make_fleet) -> None:  # type: ignore[no-untyped-def]
    f = make_fleet()
    r = f.handler("CRITICAL", "HARD", "3", "-oProxyCommand=x")
    assert (r.returncode, r.stderr) == (0, "")
    assert r.stdout == "redeploy -oProxyCommand=x: refused: '-oProxyCommand=x' is not a valid host name (RFC 1123)\n"
    assert f.triggered() == []
    assert f.audit_lines()[-1]["action"] == "refused"


def test_jenkins_down_is_logged_and_the_handler_exits_cleanly(
    make_fleet, tmp_path: Path, registry: str, image_repo: str
) -> None:  # type: ignore[no-untyped-def]
    f = make_fleet()
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    (tmp_path / "down").mkdir()
    down = write_config(tmp_path / "down", f"http://127.0.0.1:{port}/", f.hosts, registry, image_repo)
    r = f.handler("CRITICAL", "HARD", "3", "poller01", config=down)
    assert (r.returncode, r.stderr) == (0, "")
    assert r.stdout == (
        f"redeploy poller01: error: cannot connect to Jenkins at http://127.0.0.1:{port}/ "
        f"(read the queue of {JOB}): connection refused or host unreachable\n"
    )
    audit = [json.loads(line) for line in (tmp_path / "down" / "audit.log").read_text().splitlines()]
    assert audit[-1]["action"] == "error" and audit[-1]["host"] == "poller01"


def test_bad_token_unknown_job_and_missing_crumb_are_one_line_reasons(make_fleet, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from pollerfleet.clients.jenkins import JenkinsClient, JenkinsError
    from pollerfleet.core import config as config_mod

    f = make_fleet()
    cfg = config_mod.load(str(f.config))
    (tmp_path / "jenkins.token").write_text("wrong-token\n")
    r = f.handler("CRITICAL", "HARD", "3", "poller01")
    assert r.stdout == (
        f"redeploy poller01: error: Jenkins at {f.standin.url} refused the credentials of user "
        "'pollerfleet' (401): check the API token file\n"
    )
    (tmp_path / "jenkins.token").write_text(TOKEN + "\n")
    client = JenkinsClient(cfg.jenkins)
    with pytest.raises(JenkinsError, match=r"answered 404 to trigger no-such-job: no such job or item"):
        client.trigger("no-such-job", {"HOSTNAME": "poller01"})
    client._server.crumb = False  # a client that never asked for a crumb
    with pytest.raises(JenkinsError, match=r"refused the request without a valid CSRF crumb \(403\)"):
        client.trigger(JOB, {"HOSTNAME": "poller01"})
    assert f.triggered() == []


def test_token_never_leaks(make_fleet, tmp_path: Path, registry: str, image_repo: str) -> None:  # type: ignore[no-untyped-def]
    f = make_fleet()
    # a Jenkins that accepts and never answers keeps the handler alive long enough to read its argv/env
    hang = socket.socket()
    hang.bind(("127.0.0.1", 0))
    hang.listen(8)
    (tmp_path / "hang").mkdir()
    cfg = write_config(tmp_path / "hang", f"http://127.0.0.1:{hang.getsockname()[1]}/", f.hosts, registry, image_repo)
    proc = subprocess.Popen(
        handler("handle_poller_redeploy", "CRITICAL", "HARD", "3", "poller01", config=cfg),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(0.8)
    seen = Path(f"/proc/{proc.pid}/cmdline").read_bytes() + Path(f"/proc/{proc.pid}/environ").read_bytes()
    out, err = proc.communicate(timeout=60)
    hang.close()
    assert TOKEN.encode() not in seen
    assert "did not answer within 5 s" in out
    for r in (f.handler("CRITICAL", "HARD", "3", "poller01"), f.handler("CRITICAL", "HARD", "3", "bad;host")):
        assert TOKEN not in r.stdout + r.stderr
    written = [f.audit, tmp_path / "hang" / "audit.log", *sorted(f.state_dir.glob("*"))]
    assert f.audit.exists()
    for path in written:
        if path.is_file():
            assert TOKEN not in path.read_text(), path
    assert TOKEN not in out + err


def test_misuse_is_refused_with_usage(make_fleet) -> None:  # type: ignore[no-untyped-def]
    f = make_fleet()
    r = f.handler("CRITICAL")
    assert r.returncode == 3 and r.stderr == ""
    assert r.stdout == (
        "redeploy (empty): refused: the following arguments are required: STATETYPE, ATTEMPT, "
        "HOSTNAME (usage: handle_poller_redeploy STATE STATETYPE ATTEMPT HOSTNAME)\n"
    )
    assert f.audit_lines()[-1]["action"] == "refused"
    assert f.triggered() == []


@pytest.mark.parametrize(("mode", "status"), [("error500", 503), ("garbage", None)])
def test_jenkins_5xx_and_garbage_are_one_line_reasons(
    tmp_path: Path, mode: str, status: int | None, registry: str, image_repo: str
) -> None:
    from tests.standins.gateway import Gateway

    gw = Gateway("http://127.0.0.1:9", mode=mode)  # answers by itself: nothing is proxied in these modes
    try:
        cfg = write_config(tmp_path, gw.url + "/", ["poller01"], registry, image_repo)
        r = subprocess.run(
            handler("handle_poller_redeploy", "CRITICAL", "HARD", "3", "poller01", config=cfg),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert (r.returncode, r.stderr) == (0, "")
        if status:
            assert r.stdout == (
                f"redeploy poller01: error: Jenkins at {gw.url}/ answered HTTP {status} to read the queue of {JOB}\n"
            )
        else:
            assert r.stdout == (
                f"redeploy poller01: error: malformed answer from Jenkins at {gw.url}/ to read the "
                f"queue of {JOB}: not JSON\n"
            )
    finally:
        gw.stop()


# -- fail closed: the state file, the lock, the audit ----------------------------------------------
def _cut_short(path: Path, n: int = 10) -> bytes:
    data = path.read_bytes()
    path.write_bytes(data[:-n])
    return data[:-n]


def test_corrupt_state_file_stops_triggers_until_reset(make_fleet) -> None:  # type: ignore[no-untyped-def]
    f = make_fleet(duration=0.1, cooldown_minutes=60)
    assert "triggered" in f.handler("CRITICAL", "HARD", "3", "poller01").stdout
    f.standin.wait_idle()
    state = f.state_dir / "redeploy-state.json"
    bad = _cut_short(state)
    # the cooldown of poller01 and everything else the file held is unknown: nothing is triggered
    for host in ("poller01", "poller02"):
        r = f.handler("CRITICAL", "HARD", "3", host)
        assert (r.returncode, r.stderr) == (0, "")
        assert r.stdout == (
            f"redeploy {host}: refused: the state file {state} is corrupt (not the JSON this suite writes); "
            "automatic redeploys stop until an operator checks it and runs `pollerfleet breaker reset` "
            "(the file is kept for inspection)\n"
        )
    assert f.triggered() == ["poller01"]
    assert state.read_bytes() == bad  # kept as it was, for inspection
    assert [a["action"] for a in f.audit_lines()] == ["triggered", "refused", "refused"]
    r = f.cli("breaker", "status")
    assert r.returncode == 1 and r.stdout.startswith(f"circuit breaker unusable: the state file {state} is corrupt")
    r = f.cli("breaker", "reset")
    assert r.returncode == 0, r.stderr
    kept = sorted(f.state_dir.glob("redeploy-state.json.bad-*"))
    assert len(kept) == 1 and kept[0].read_bytes() == bad
    assert r.stdout == (
        f"circuit breaker reset; {JOB} builds up to #1 no longer count; the unusable state file was kept as "
        f"{kept[0]} (the cooldowns it held are forgotten)\n"
    )
    assert "triggered" in f.handler("CRITICAL", "HARD", "3", "poller02").stdout
    assert f.triggered() == ["poller01", "poller02"]


def test_lock_timeout_nan_is_a_config_error_not_an_endless_wait(make_fleet, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import fcntl

    f = make_fleet()
    f.config.write_text(f.config.read_text().replace("[redeploy]\n", "[redeploy]\nlock_timeout = nan\n"))
    f.state_dir.mkdir(exist_ok=True)
    with open(f.state_dir / "redeploy.lock", "w") as held:  # another handler is deciding
        fcntl.flock(held, fcntl.LOCK_EX)
        r = f.handler("CRITICAL", "HARD", "3", "poller01")
    assert r.stdout == (
        f"redeploy poller01: error: config file {f.config}: [redeploy] lock_timeout must be a finite number, not nan\n"
    )
    assert f.triggered() == []


ENGINE_USER = "nagios"  # the engine user of Debian's nagios4 here, as centreon-engine is Centreon's


@dataclass
class EngineUserFleet(Fleet):
    def as_engine_user(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The handler as the engine runs it: its own user, not root."""
        setpriv = ["setpriv", f"--reuid={ENGINE_USER}", f"--regid={ENGINE_USER}", "--init-groups"]
        return subprocess.run(
            [*setpriv, *handler("handle_poller_redeploy", *args, config=self.config)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )


@pytest.fixture
def engine_fleet(registry: str, image_repo: str) -> Iterator[EngineUserFleet]:
    """A fleet whose state and audit directories belong to the engine user's group (as the package
    installs them), under a directory that user can reach; the test itself runs as root."""
    import grp
    import os
    import shutil
    import tempfile

    if os.geteuid() != 0:
        pytest.skip("needs root to run the handler as the engine user")
    gid = grp.getgrnam(ENGINE_USER).gr_gid
    base = Path(tempfile.mkdtemp(prefix="pft-engine-user-", dir="/tmp"))
    base.chmod(0o755)
    standin = JenkinsStandin({"pollerfleet": TOKEN}, [Job(JOB, ["HOSTNAME"], duration=0.1, one_per="HOSTNAME")])
    standin.start()
    try:
        hosts = ["poller01", "poller02"]
        cfg = write_config(base, standin.url, hosts, registry, image_repo)
        cfg.write_text(cfg.read_text().replace(str(base / "audit.log"), str(base / "log" / "audit.log")))
        for d in (base / "state", base / "log"):
            d.mkdir()
            os.chown(d, 0, gid)
            d.chmod(0o770)
        os.chown(base / "jenkins.token", 0, gid)
        (base / "jenkins.token").chmod(0o640)
        yield EngineUserFleet(standin, cfg, base / "log" / "audit.log", base / "state", hosts)
    finally:
        standin.stop()
        shutil.rmtree(base)


def test_root_dry_run_first_does_not_lock_the_engine_user_out(engine_fleet: EngineUserFleet) -> None:
    f = engine_fleet
    r = f.cli("redeploy", "poller01", "--dry-run")  # root, e.g. `sudo pollerfleet redeploy --dry-run`
    assert r.returncode == 0 and "would-trigger" in r.stdout, r.stdout + r.stderr
    r = f.as_engine_user("CRITICAL", "HARD", "3", "poller01")
    assert r.stdout.startswith("redeploy poller01: triggered (queue item "), r.stdout + r.stderr
    assert r.stderr == ""
    assert f.triggered() == ["poller01"]
    assert [a["action"] for a in f.audit_lines()] == ["would-trigger", "triggered"]


def test_a_lock_the_engine_user_cannot_open_is_said_clearly(engine_fleet: EngineUserFleet) -> None:
    lock = engine_fleet.state_dir / "redeploy.lock"
    lock.touch()
    lock.chmod(0o600)  # left by an older version run as root
    r = engine_fleet.as_engine_user("CRITICAL", "HARD", "3", "poller01")
    assert r.stdout.startswith(
        f"redeploy poller01: refused: the decision lock {lock} cannot be opened by {ENGINE_USER} "
        "(owner uid 0, group gid 0, mode 0600): give it the group of "
    ), r.stdout
    assert engine_fleet.triggered() == []


def test_state_file_the_engine_user_cannot_read_stops_triggers(engine_fleet: EngineUserFleet) -> None:
    f = engine_fleet
    state = f.state_dir / "redeploy-state.json"
    state.write_text('{"breaker": {}, "hosts": {"poller01": {"last_trigger": 1}}, "triggers": []}')
    state.chmod(0o600)
    r = f.as_engine_user("CRITICAL", "HARD", "3", "poller01")
    assert r.stdout == (
        f"redeploy poller01: refused: the state file {state} cannot be read by {ENGINE_USER}: Permission denied; "
        "automatic redeploys stop until an operator checks it and runs `pollerfleet breaker reset` "
        "(the file is kept for inspection)\n"
    ), r.stdout
    assert f.triggered() == []
    assert f.audit_lines()[-1]["action"] == "refused"


def test_a_trigger_whose_state_cannot_be_saved_is_still_audited_as_triggered(
    engine_fleet: EngineUserFleet, desired: str
) -> None:
    import os

    f = engine_fleet
    (f.state_dir / "redeploy.lock").touch()
    (f.state_dir / "redeploy.lock").chmod(0o644)
    os.chown(f.state_dir, 0, 0)
    f.state_dir.chmod(0o755)  # readable, but the engine user cannot write the new state into it
    r = f.as_engine_user("CRITICAL", "HARD", "3", "poller01")
    assert f.triggered() == ["poller01"]
    queue_id = int(r.stdout.split("queue item ")[1].split(")")[0])
    assert r.stdout == (
        f"redeploy poller01: triggered (queue item {queue_id}): {JOB} with HOSTNAME=poller01 POLLER_IMAGE={desired}\n"
    )
    problem = (
        f"the trigger was not recorded in {f.state_dir / 'redeploy-state.json'} (Permission denied): "
        "cooldown and budget do not count it"
    )
    assert r.stderr == f"redeploy: warning: {problem}\n"
    last = f.audit_lines()[-1]
    assert (last["action"], last["queue_id"], last["problem"]) == ("triggered", queue_id, problem)


# -- credentials go only where the operator configured them ----------------------------------------
def test_plain_http_jenkins_needs_allow_http(make_fleet) -> None:  # type: ignore[no-untyped-def]
    f = make_fleet()
    text = f.config.read_text()
    jenkins = text.index("[jenkins]")  # the registry keeps its own allow_http
    f.config.write_text(text[:jenkins] + text[jenkins:].replace("allow_http = true\n", "", 1))
    r = f.handler("CRITICAL", "HARD", "3", "poller01")
    assert (r.returncode, r.stderr) == (0, "")
    assert r.stdout == (
        f"redeploy poller01: error: Jenkins {f.standin.url} is plain HTTP: the API token would travel in clear; "
        "set [jenkins] allow_http = true only if it really is unencrypted\n"
    )
    assert f.standin.requests == [] and f.triggered() == []


def test_jenkins_tls_is_verified_even_with_pythonhttpsverify_0(
    auth_registry: dict[str, str], tmp_path: Path, registry: str, image_repo: str
) -> None:
    certs = Path(auth_registry["ca"]).parent  # a certificate for 127.0.0.1 from a CA the system does not know
    standin = JenkinsStandin(
        {"pollerfleet": TOKEN},
        [Job(JOB, ["HOSTNAME", "POLLER_IMAGE", "PREPARE_HOST"], duration=0.1, defaults={"PREPARE_HOST": "true"})],
        tls=(str(certs / "server-cert.pem"), str(certs / "server-key.pem")),
    ).start()
    try:
        cfg = write_config(tmp_path, standin.url, ["poller01"], registry, image_repo)
        argv = handler("handle_poller_redeploy", "CRITICAL", "HARD", "3", "poller01", config=cfg)
        env = {**os.environ, "PYTHONHTTPSVERIFY": "0"}
        r = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
        assert r.stdout.startswith(f"redeploy poller01: error: TLS verification of Jenkins at {standin.url} failed"), (
            r.stdout
        )
        assert standin.triggered(JOB) == []
        cfg.write_text(cfg.read_text().replace("[jenkins]\n", f'[jenkins]\nca_file = "{auth_registry["ca"]}"\n'))
        r = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
        assert r.stdout.startswith("redeploy poller01: triggered"), r.stdout
    finally:
        standin.stop()


def test_a_deploy_job_in_a_folder_is_deduped_and_counted(tmp_path: Path, registry: str, image_repo: str) -> None:
    """team/deploy-centreon-poller: triggered, seen in the queue and the builds (not read as
    team%2Fdeploy-centreon-poller), so dedupe and the budget hold for a job in a folder too."""
    job = "team/deploy-centreon-poller"
    other = Job("deploy-centreon-poller", ["HOSTNAME", "POLLER_IMAGE", "PREPARE_HOST"], duration=5)  # same short name
    standin = JenkinsStandin(
        {"pollerfleet": TOKEN}, [Job(job, ["HOSTNAME", "POLLER_IMAGE", "PREPARE_HOST"], duration=5), other]
    ).start()
    try:
        cfg = write_config(tmp_path, standin.url, ["poller01", "poller02"], registry, image_repo, budget=1)
        cfg.write_text(cfg.read_text().replace("[jenkins]\n", f'[jenkins]\ndeploy_job = "{job}"\n'))

        def run_handler(host: str) -> str:
            argv = handler("handle_poller_redeploy", "CRITICAL", "HARD", "3", host, config=cfg)
            r = subprocess.run(argv, capture_output=True, text=True, check=False)
            assert (r.returncode, r.stderr) == (0, "")
            return r.stdout

        assert run_handler("poller01").startswith(f"redeploy poller01: triggered (queue item 101): {job} with")
        assert [p["HOSTNAME"] for p in standin.triggered(job)] == ["poller01"]
        assert standin.triggered("deploy-centreon-poller") == []
        wait_for(lambda: bool(standin.builds_of(job)), 10)
        assert (
            run_handler("poller01")
            == "redeploy poller01: skipped (build #1): a deploy for poller01 is already running\n"
        )
        assert "fleet budget reached: 1 deploy builds queued or running (budget 1)" in run_handler("poller02")
        assert ("GET", "/job/team/job/deploy-centreon-poller/api/json") in standin.requests
    finally:
        standin.stop()


def test_operator_redeploy_to_a_chosen_release(make_fleet, docker: Docker, registry: str, image_repo: str) -> None:  # type: ignore[no-untyped-def]
    """`pollerfleet redeploy HOST --image TAG`: the tag at the registry's current digest, checked
    against the registry and the host's pin before anything reaches Jenkins."""
    f = make_fleet()
    build_and_push(docker, f"{registry}/{image_repo}:19.04.4", "19.04.4")
    pushed = json.loads(docker("image", "inspect", "-f", "{{json .RepoDigests}}", f"{registry}/{image_repo}:19.04.4"))
    older = f"{registry}/{image_repo}:19.04.4@{pushed[-1].split('@')[1]}"
    r = f.cli("redeploy", "poller01", "--image", "19.04.4", "--dry-run")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"would-trigger: {JOB} with HOSTNAME=poller01 POLLER_IMAGE={older}" in r.stdout
    r = f.cli("redeploy", "poller01", "--image", "19.04.4")
    assert r.returncode == 0 and f.standin.triggered(JOB)[-1]["POLLER_IMAGE"] == older
    assert f.audit_lines()[-1]["image"] == older
    for image, reason in (
        ("19.04.9", "is not in the registry"),
        ("latest", "is not a release tag"),
        (f"evil.example:5000/x/y:19.04.4@sha256:{'a' * 64}", "is not the repository of poller02"),
    ):
        r = f.cli("redeploy", "poller02", "--image", image)
        assert r.returncode == 1 and "refused: no target image" in r.stdout and reason in r.stdout, r.stdout
    fleet_inventory(
        f.config.parent / "inventory.yml", f.hosts, f"{registry}/{image_repo}", held={"poller03": "19.04.5"}
    )
    r = f.cli("redeploy", "poller03", "--image", "19.04.4")
    assert r.returncode == 1 and "poller03 is held at 19.04.5 by the inventory" in r.stdout, r.stdout
    assert [p["HOSTNAME"] for p in f.standin.triggered(JOB)] == ["poller01"]


# -- a handler the engine kills (event_handler_timeout) loses nothing (#22.9) -----------------------
KILLED_AFTER_TRIGGER = """
import os, sys
from pollerfleet.actions.redeploy import Redeployer
from pollerfleet.clients.jenkins import JenkinsClient
from pollerfleet.core import config

cfg = config.load(sys.argv[1])


class KilledAfterTrigger(JenkinsClient):
    def trigger(self, job, params):
        queue_id = super().trigger(job, params)
        print(queue_id, flush=True)
        os._exit(137)  # SIGKILL from the engine: Jenkins has the build, nothing after it ran


Redeployer(cfg, jenkins=lambda: KilledAfterTrigger(cfg.jenkins)).request("poller01")
"""


def test_a_handler_killed_right_after_the_trigger_still_counts(make_fleet, desired: str) -> None:  # type: ignore[no-untyped-def]
    f = make_fleet(duration=0.1, hourly_cap=1)
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_AFTER_TRIGGER, str(f.config)], capture_output=True, text=True, timeout=60
    )
    assert killed.returncode == 137 and killed.stdout.strip().isdigit(), killed.stdout + killed.stderr
    assert f.triggered() == ["poller01"]
    f.standin.wait_idle()  # Jenkins no longer lists it as queued or running: only our state knows
    r = f.handler("CRITICAL", "HARD", "3", "poller01")
    assert r.stdout.startswith("redeploy poller01: skipped: a deploy for poller01 was triggered at "), r.stdout
    assert r.stdout.endswith("(the handler that triggered it ended before it could record the queue item)\n")
    r = f.handler("CRITICAL", "HARD", "3", "poller02")
    assert r.stdout.startswith("redeploy poller02: deferred: hourly cap reached: 1 redeploys"), r.stdout
    assert f.triggered() == ["poller01"]
    state = json.loads((f.state_dir / "redeploy-state.json").read_text())
    assert state["hosts"]["poller01"]["image"] == desired


def test_the_handler_gives_up_before_the_engine_kills_it(
    tmp_path: Path, registry: str, image_repo: str, hanging_port: int
) -> None:
    """A Jenkins that accepts and never answers, with a per-request timeout longer than the engine
    allows: the handler's own deadline ends it with one line, audited."""
    cfg = write_config(
        tmp_path, f"http://127.0.0.1:{hanging_port}/", ["poller01"], registry, image_repo, handler_deadline=2
    )
    cfg.write_text(cfg.read_text().replace("timeout = 5\n", "timeout = 60\n", 1))
    r = subprocess.run(
        handler("handle_poller_redeploy", "CRITICAL", "HARD", "3", "poller01", config=cfg),
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )
    assert (r.returncode, r.stderr) == (0, ""), r.stderr
    assert r.stdout == (
        "redeploy poller01: error: gave up at the handler's deadline of 2 s ([redeploy] handler_deadline, kept "
        "below the engine's event_handler_timeout)\n"
    )
    audit = [json.loads(line) for line in (tmp_path / "audit.log").read_text().splitlines()]
    assert [(a["host"], a["action"]) for a in audit] == [("poller01", "error")]


def test_a_trigger_jenkins_refused_leaves_no_intent_behind(make_fleet) -> None:  # type: ignore[no-untyped-def]
    """Jenkins answered the trigger with an error: no build exists, so nothing is held back."""
    from pollerfleet.actions.redeploy import Redeployer
    from pollerfleet.clients.jenkins import JenkinsClient, JenkinsError
    from pollerfleet.core import config as config_mod

    f = make_fleet()
    cfg = config_mod.load(str(f.config))

    class Refusing(JenkinsClient):
        def trigger(self, job: str, params: dict[str, str]) -> int:
            raise JenkinsError(f"Jenkins at {self.url} denied user 'pollerfleet' permission to trigger {job} (403)")

    refused = Redeployer(cfg, jenkins=lambda: Refusing(cfg.jenkins)).request("poller01")
    assert (refused.action, refused.reason) == (
        "error",
        f"Jenkins at {f.standin.url} denied user 'pollerfleet' permission to trigger {JOB} (403)",
    )
    assert Redeployer(cfg).request("poller01").action == "triggered"
    assert f.triggered() == ["poller01"]
