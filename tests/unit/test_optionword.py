"""--options WORD: an administrator's option macro, quoted as one word, parsed as options."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from pollerfleet.actions.handlers import redeploy_parser
from tests.helpers import PLUGINS, run_plugin
from tests.unit.test_commands import load_plugin

ENGINE = ["CRITICAL", "HARD", "3", "poller01"]


def docker_host(*argv: str) -> Any:
    return load_plugin("check_docker_host").parser().parse_args(list(argv))


def test_a_word_holds_several_options() -> None:
    args = docker_host("-H", "poller01", "--options=--docker-url tcp://10.0.0.5:2376 -t 20 -v --tls-dir '/etc/tls dir'")
    assert (args.host, args.docker_url, args.timeout, args.verbose) == ("poller01", "tcp://10.0.0.5:2376", 20.0, 1)
    assert args.tls_dir == "/etc/tls dir"


def test_an_empty_word_means_no_options() -> None:
    plain = {**vars(docker_host("-H", "poller01")), "deadline": 0}
    for empty in ("--options=", "--options=  "):
        assert {**vars(docker_host("-H", "poller01", empty)), "options": [], "deadline": 0} == plain


def test_the_word_comes_after_the_command_line_and_words_in_order() -> None:
    assert docker_host("--options=-t 20", "-t", "5").timeout == 20.0
    assert docker_host("--options=-t 20", "--options=-t 30 -v", "--options=-v").verbose == 2
    args = load_plugin("check_poller_container").parser().parse_args(["-n", "a", "--options=-n b"])
    assert args.name == ["a", "b"]


@pytest.mark.parametrize(
    ("word", "reason"),
    [
        ("--tls-dir '/etc/x", 'in --options "--tls-dir \'/etc/x": No closing quotation'),
        ("--bogus", "in --options '--bogus': unrecognized arguments: --bogus"),
        ("-t 5 poller02", "in --options '-t 5 poller02': unrecognized arguments: poller02"),
        ("-t soon", "in --options '-t soon': argument -t/--timeout: 'soon' is not a number"),
        (
            "--config /tmp/evil.toml",
            "in --options '--config /tmp/evil.toml': --config cannot come from an options word",
        ),
        ("--conf=/tmp/evil.toml", "in --options '--conf=/tmp/evil.toml': --config cannot come from an options word"),
        ("--options=-v", "in --options '--options=-v': --options cannot come from an options word"),
        ("-vh", "in --options '-vh': -h cannot come from an options word: its output is no status line"),
        ("--version", "in --options '--version': --version cannot come from an options word"),
        ("-t 5 -- -v", "in --options '-t 5 -- -v': '--' has no place in it"),
        ("--", "in --options '--': '--' has no place in it"),
    ],
)
def test_a_bad_word_is_one_unknown_line(word: str, reason: str) -> None:
    r = run_plugin("check_docker_host", "-H", "127.0.0.1", f"--options={word}")
    assert r.rc == 3 and r.err == "", r
    assert r.line.startswith(f"DOCKER UNKNOWN - {reason}"), r.line
    assert r.out.splitlines()[1].startswith("usage: check_docker_host ")


def test_help_and_version_still_work_on_the_command_line() -> None:
    assert run_plugin("check_docker_host", "--help").out.startswith("usage: check_docker_host ")
    assert run_plugin("check_docker_host", "-V").out.startswith("check_docker_host ")


def test_a_handler_takes_its_options_in_a_word_and_keeps_the_engines_macros() -> None:
    args = redeploy_parser().parse_args([*ENGINE, "--options=--dry-run -v"])
    assert (args.dry_run, args.verbose, args.hostname, args.state) == (True, 1, "poller01", "CRITICAL")
    args = redeploy_parser().parse_args([*ENGINE, "--options="])
    assert (args.dry_run, args.hostname) == (False, "poller01")


@pytest.mark.parametrize(
    ("word", "reason"),
    [
        ("poller02", "it holds words that are no options (the engine's macros come from the engine alone)"),
        ("--dry-run poller02", "it holds words that are no options"),
        ("--bogus", "unrecognized arguments: --bogus"),
        ("--config /tmp/evil.toml", "--config cannot come from an options word"),
        ("--dry-run '", "No closing quotation"),
        ("-- poller02", "'--' has no place in it"),
    ],
)
def test_a_handler_refuses_a_bad_word_and_says_so(word: str, reason: str) -> None:
    with pytest.raises(ValueError, match="in --options") as refused:
        redeploy_parser().parse_args([*ENGINE, f"--options={word}"])
    assert reason in str(refused.value)
    # run as the engine does: one refusal line, exit 3, no traceback (a config that does not
    # exist: the misuse is not audited anywhere real)
    proc = subprocess.run(
        [
            sys.executable,
            str(PLUGINS / "handle_poller_redeploy"),
            *ENGINE,
            f"--options={word}",
            "--config",
            "/nonexistent",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 3 and proc.stderr == "", proc
    assert proc.stdout.startswith("redeploy (empty): refused: in --options ") and reason in proc.stdout
    assert len(proc.stdout.splitlines()) == 1
