"""The operator command's skeleton: version, config check, usage errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from pollerfleet import __version__
from tests.helpers import pollerfleet


def test_version() -> None:
    r = pollerfleet(None, "--version")
    assert (r.returncode, r.stdout) == (0, f"pollerfleet {__version__}\n")


def test_check_config(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text("[docker]\nport = 2376\n")
    r = pollerfleet(good, "check-config")
    assert (r.returncode, r.stdout) == (0, f"configuration OK: {good}\n")
    bad = tmp_path / "bad.toml"
    bad.write_text("[fleet]\ngroup = 3\n")
    r = pollerfleet(bad, "check-config")
    assert r.returncode == 3  # never WARNING (1) or CRITICAL (2): UNKNOWN, as a plugin that cannot check
    assert r.stderr == f"pollerfleet: config file {bad}: [fleet] group must be a string\n"
    r = pollerfleet(None, "check-config", "--config", str(bad))  # the global option after the subcommand
    assert r.returncode == 3 and str(bad) in r.stderr
    r = pollerfleet(None, "check-config", "--config", str(good))
    assert (r.returncode, r.stdout) == (0, f"configuration OK: {good}\n")


def test_no_command_prints_usage() -> None:
    r = pollerfleet(None)
    assert r.returncode == 3 and r.stdout.startswith("usage: pollerfleet")


@pytest.mark.parametrize("value", ["zz", "nan", "inf", "-inf", "1e999", "1:zz"])
@pytest.mark.parametrize("option", ["--critical-lag", "--critical-behind"])
def test_reconcile_refuses_bad_thresholds_in_one_line(tmp_path: Path, option: str, value: str) -> None:
    cfg = tmp_path / "fleet.toml"
    cfg.write_text(f'[fleet]\ninventory = "{tmp_path / "absent.yml"}"\n')
    r = pollerfleet(cfg, "reconcile", f"{option}={value}")
    assert (r.returncode, r.stdout) == (3, "")
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.startswith(f"pollerfleet reconcile: argument {option}: invalid range {value!r}"), r.stderr


@pytest.mark.parametrize("value", ["nan", "inf", "0", "x"])
def test_wait_timeout_must_be_a_finite_positive_number(value: str) -> None:
    r = pollerfleet(None, "redeploy", "poller01", f"--wait-timeout={value}")
    assert r.returncode == 3 and r.stderr.count("\n") == 1, r.stderr


def test_every_subcommand_has_a_description_and_every_option_a_help() -> None:
    import argparse

    from pollerfleet.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert sub.choices
    for name, cmd in sub.choices.items():
        assert cmd.description, name
        for action in cmd._actions:
            if action.help == argparse.SUPPRESS:
                continue
            assert action.help, (name, action.option_strings or action.dest)


@pytest.mark.parametrize(
    "argv",
    [
        ["status", "--host"],  # a usage error
        ["no-such-command"],
        ["--config", "/nonexistent/fleet.toml", "status"],  # a configuration error
        ["status", "--config", "/nonexistent/fleet.toml"],
    ],
)
def test_usage_and_configuration_errors_exit_3_in_one_line(argv: list[str]) -> None:
    r = pollerfleet(None, *argv)
    assert r.returncode == 3 and r.stdout == "", r.stdout + r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr


def test_verbose_before_or_after_the_subcommand(tmp_path: Path) -> None:
    cfg = tmp_path / "fleet.toml"
    cfg.write_text("")
    for argv in (["-v", "--config", str(cfg), "check-config"], ["check-config", "--config", str(cfg), "-v"]):
        r = pollerfleet(None, *argv)
        assert r.returncode == 0 and r.stderr == f"configuration: {cfg}\n", argv
    assert pollerfleet(cfg, "check-config").stderr == ""
