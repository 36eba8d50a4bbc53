"""images/centreon-engine/poller-push.sh, the ForceCommand of the poller's sshd for the central's
`centreon` user: exactly the command lines centcore 19.04 sends are taken (images/README.md, "The
central's commands"), everything else is refused before anything runs. The scp and engine paths run
for real against the twin in tests/integration/test_twin_poller.py."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.helpers import ROOT, wait_for

PUSH = ROOT / "images" / "centreon-engine" / "poller-push.sh"
CMD_FILE = "/var/lib/centreon-engine/rw/centengine.cmd"
STATS = "/tmp/.centreon-broker-stats.dat"
TS = "1700000000"


def run(command: str, inbox: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(PUSH)],
        env={"PATH": "/usr/bin:/bin", "SSH_ORIGINAL_COMMAND": command, "PUSH_DIR": str(inbox), **env},
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )


def echo(lines: str, target: str = CMD_FILE) -> str:
    """centcore's external command line: ' escaped as '\\'', a newline after every line."""
    return "echo '" + lines.replace("'", "'\\''") + "' >> " + target


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("", "no command"),
        ("cat /etc/shadow", "'cat /etc/shadow' (this account takes what a Centreon 19.04 central sends"),
        ("rsync --server -logDtpre.iLsfxC . engine/", "'rsync --server"),  # never what the central runs
        ("scp -t /etc/", "'scp -t /etc/'"),
        ("scp -t /etc/centreon-engine/../", "'scp -t /etc/centreon-engine/../'"),
        ("scp -r -t /etc/centreon-engine/", "'scp -r -t"),  # only the central's options
        ("scp -p -t /etc/centreon-engine/", "'scp -p -t"),
        ("scp -d -t -- /etc/centreon-engine/", "'scp -d -t --"),
        ("scp -f /etc/centreon-engine/centengine.cfg", "'scp -f /etc/centreon-engine/centengine.cfg'"),
        ("scp -f /etc/shadow", "'scp -f /etc/shadow'"),
        ("scp -t /etc/centreon-engine/ ; id", "'scp -t /etc/centreon-engine/ ; id'"),
        ("sudo service centengine status", "'sudo service centengine status'"),
        ("sudo service cbd reload", "'sudo service cbd reload'"),
        ("sudo service centengine reload; id", "'sudo service centengine reload; id'"),
        ("sudo  service centengine reload", "'sudo  service centengine reload'"),
        ("sudo -K service centengine reload", "'sudo -K"),
        ("reload", "'reload'"),  # the old interface: the central never sends it
        (echo(f"[{TS}] SCHEDULE_FORCED_SVC_CHECK;web01;Ping;{TS}\n", "/tmp/x"), "'echo '"),
        (echo(f"[{TS}] ACKNOWLEDGE_SVC_PROBLEM;web01;Ping\n") + "; id", "'echo '"),
        (
            f"echo '[{TS}] ACKNOWLEDGE_SVC_PROBLEM;a'; id; echo 'x' >> {CMD_FILE}",
            "a quote outside '\\'' in the echo",
        ),
        (echo("rm -rf /\n"), "line 1 is not '[epoch] NAME;args': rm -rf /"),
        (echo(f"[{TS}] DISABLE_NOTIFICATIONS\n$(id)\n"), "line 2 is not '[epoch] NAME;args': $(id)"),
        (echo(f"[{TS}] ACKNOWLEDGE_SVC_PROBLEM;web01;Ping\x1b[2J\n"), "line 1 holds a control character"),
        (echo(f"[{TS}] ACKNOWLEDGE_SVC_PROBLEM;web01;\tPing\n"), "line 1 holds a control character"),
        (echo(f"[{TS}] PROCESS_SERVICE_CHECK_RESULT;a;b;0;x\n\n"), "line 2 is not '[epoch] NAME;args'"),
        (echo("\n"), "no command line"),
        (echo(f"[{TS}] DISABLE_NOTIFICATIONS\n" * 201), "201 lines (centcore sends at most 200)"),
        (f'cat "/etc/shadow" > {STATS}', "broker statistics: not a statistics file"),
        (f'cat "/var/lib/centreon-engine/../../etc/x-stats.json" > {STATS}', "broker statistics: not a statistics"),
        (f'cat "/var/lib/centreon-engine/a b-stats.json" > {STATS}', "broker statistics: not a statistics file"),
        ('cat "/var/lib/centreon-engine/x-stats.json" > /tmp/other', "'cat \"/var/lib/centreon-engine/x-stats"),
        (f'cat "/var/lib/centreon-engine/x-stats.json" > {STATS}; id', "'cat \"/var/lib/centreon-engine/x-stats"),
    ],
)
def test_everything_but_what_the_central_sends_is_refused(tmp_path: Path, command: str, message: str) -> None:
    r = run(command, tmp_path)
    assert r.returncode == 1
    assert r.stderr.startswith("poller-push: refused: ") and message in r.stderr, r.stderr
    assert len(r.stderr.splitlines()) == 1 and r.stdout == ""
    assert list(tmp_path.iterdir()) == []  # no request, no file


def test_external_commands_reach_the_pipe_whole_as_the_central_wrote_them(tmp_path: Path) -> None:
    pipe = tmp_path / "centengine.cmd"
    os.mkfifo(pipe)
    lines = (
        f"[{TS}] ACKNOWLEDGE_SVC_PROBLEM;web01;Ping;2;1;1;admin;it's known, see ticket #42\n"
        f"[{TS}] SCHEDULE_SVC_DOWNTIME;web01;Ping;{TS};1700003600;1;0;3600;admin;maintenance é\n"
    )
    reader = os.open(pipe, os.O_RDONLY | os.O_NONBLOCK)  # the engine
    try:
        r = run(echo(lines, str(pipe)), tmp_path / "inbox", ENGINE_COMMAND_FILE=str(pipe))
        assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
        assert os.read(reader, 65536).decode() == lines
    finally:
        os.close(reader)


def test_external_commands_are_refused_at_once_when_no_engine_reads_the_pipe(tmp_path: Path) -> None:
    pipe = tmp_path / "centengine.cmd"
    os.mkfifo(pipe)  # left by a stopped engine: a blocking open would wait forever
    started = time.monotonic()
    r = run(echo(f"[{TS}] DISABLE_NOTIFICATIONS\n", str(pipe)), tmp_path / "inbox", ENGINE_COMMAND_FILE=str(pipe))
    assert r.returncode == 1
    assert r.stderr.startswith(f"poller-push: refused: the engine does not read its command file {pipe}"), r.stderr
    assert time.monotonic() - started < 15  # refused, not left hanging until sshd's client gives up


@pytest.mark.parametrize(
    ("verdict", "rc", "out", "err"),
    [
        (
            "OK applied 20261204T101010Z-1-000001; engine reloaded",
            0,
            "applied 20261204T101010Z-1-000001; engine reloaded\n",
            "",
        ),
        (
            "REFUSED reload: verification failed (exit 1): Error: x",
            1,
            "",
            "poller-push: REFUSED reload: verification failed (exit 1): Error: x\n",
        ),
    ],
)
def test_a_reload_asks_config_push_and_passes_its_verdict_on(
    tmp_path: Path, verdict: str, rc: int, out: str, err: str
) -> None:
    """config-push (root) answers in a directory only it writes; a refusal goes to stderr, which
    centcore logs."""
    inbox, results = tmp_path / "inbox", tmp_path / "results"
    inbox.mkdir()
    results.mkdir()

    def config_push() -> None:
        wait_for(lambda: any(inbox.glob(".request-reload-*")), 10, step=0.05, what="the request")
        request = next(inbox.glob(".request-reload-*"))
        (results / request.name[len(".request-reload-") :]).write_text(verdict + "\n")
        request.unlink()

    helper = threading.Thread(target=config_push)
    helper.start()
    r = run("sudo service centengine reload", inbox, PUSH_RESULTS=str(results))
    helper.join()
    assert (r.returncode, r.stdout, r.stderr) == (rc, out, err)
