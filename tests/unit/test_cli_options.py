"""The pieces the pollerfleet subcommands share: options declared once (in --help groups), the one
inventory loader and its one wording, and a start-up that pays only for what it runs."""

from __future__ import annotations

import argparse
import importlib.machinery
import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pollerfleet.cli import build_parser
from tests.helpers import PLUGINS, pollerfleet, write_inventory


def subcommands() -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def option(parser: argparse.ArgumentParser, flag: str) -> argparse.Action:
    return next(a for a in parser._actions if flag in a.option_strings)


def group_of(parser: argparse.ArgumentParser, flag: str) -> str:
    return next(g.title for g in parser._action_groups if any(flag in a.option_strings for a in g._group_actions))


def same(a: argparse.Action, b: argparse.Action) -> tuple[Any, ...]:
    fields = ("dest", "default", "type", "metavar", "help", "nargs", "const")
    return tuple(getattr(a, f) for f in fields), tuple(getattr(b, f) for f in fields)


def test_timeout_is_one_declaration_in_every_command_that_asks_hosts() -> None:
    cmds = subcommands()
    first = option(cmds["status"], "-t")
    for name in ("sweep", "rollout"):
        theirs, ours = same(option(cmds[name], "--timeout"), first)
        assert theirs == ours, name
        assert group_of(cmds[name], "-t") == "Timeouts and concurrency"
    assert first.option_strings == ["-t", "--timeout"] and first.default == 10.0


@pytest.mark.parametrize("value", ["0", "-1", "nan", "x"])
@pytest.mark.parametrize("command", ["status", "sweep", "rollout"])
def test_a_bad_timeout_is_one_usage_line(command: str, value: str) -> None:
    r = pollerfleet(None, command, f"--timeout={value}")
    assert (r.returncode, r.stdout) == (3, "")
    assert r.stderr.startswith(f"pollerfleet {command}: argument -t/--timeout:"), r.stderr
    assert r.stderr.count("\n") == 1


def load_plugin(name: str) -> Any:
    loader = importlib.machinery.SourceFileLoader(name, str(PLUGINS / name))
    spec = importlib.util.spec_from_loader(name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


@pytest.mark.parametrize("level", ["warning", "critical"])
def test_latency_options_are_check_docker_hosts_own(level: str) -> None:
    plugin = load_plugin("check_docker_host").parser()
    theirs = option(plugin, f"--{level}-latency")
    for name in ("status", "sweep"):
        ours = option(subcommands()[name], f"--{level}-latency")
        assert same(ours, theirs)[0] == same(ours, theirs)[1], name
        assert ours.option_strings == [f"--{level}-latency"]  # no -w/-c beside the other thresholds
    assert theirs.option_strings == [f"-{level[0]}", f"--{level}-latency"]


def test_help_groups_options_by_what_they_are_about() -> None:
    cmds = subcommands()
    assert group_of(cmds["status"], "--host") == "Inventory"
    assert group_of(cmds["status"], "--warning-latency") == "Docker host (as check_docker_host)"
    assert group_of(cmds["status"], "--critical-restarts") == "Engine container (as check_poller_container)"
    assert group_of(cmds["status"], "--critical-lag") == "Image (as check_poller_image)"
    assert group_of(cmds["status"], "--json") == "Output"
    assert group_of(cmds["sweep"], "--image-service") == "Submission"
    assert group_of(cmds["redeploy"], "--wait") == group_of(cmds["rebuild"], "--wait") == "Request"
    for name, cmd in cmds.items():
        assert group_of(cmd, "--config") == group_of(cmd, "-v") == "Global options", name
    help_text = cmds["status"].format_help()
    assert "\nTimeouts and concurrency:\n" in help_text and "\nGlobal options:\n" in help_text


NO_INVENTORY = "pollerfleet: no fleet inventory is configured: set [fleet] inventory"


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["status"], NO_INVENTORY),
        (["sweep"], NO_INVENTORY),
        (["rollout"], NO_INVENTORY),
        (["reconcile", "--no-rebuild"], NO_INVENTORY),
        (["desired", "poller01"], NO_INVENTORY + " or give --inventory"),
        (["verify", "poller01", "r/p:1@sha256:" + "a" * 64], NO_INVENTORY + " or give --inventory"),
    ],
)
def test_every_command_says_a_missing_inventory_in_the_same_line(tmp_path: Path, argv: list[str], said: str) -> None:
    cfg = tmp_path / "fleet.toml"
    cfg.write_text(f'[registry]\ncache_dir = "{tmp_path / "cache"}"\n')
    r = pollerfleet(cfg, *argv)
    assert (r.returncode, r.stdout, r.stderr) == (3, "", said + "\n")


@pytest.mark.parametrize("command", ["status", "sweep", "rollout", "desired", "verify", "reconcile"])
def test_every_command_says_a_broken_inventory_in_the_same_line(tmp_path: Path, command: str) -> None:
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("all: [unclosed\n")
    cfg = tmp_path / "fleet.toml"
    cfg.write_text(f'[fleet]\ninventory = "{inventory}"\n[registry]\ncache_dir = "{tmp_path / "cache"}"\n')
    argv = {"desired": ["poller01"], "verify": ["poller01", "r/p:1@sha256:" + "a" * 64]}.get(command, [])
    r = pollerfleet(cfg, command, *argv)
    assert (r.returncode, r.stdout) == (3, "")
    assert r.stderr.startswith(f"pollerfleet: inventory {inventory} is not valid YAML: "), r.stderr
    assert r.stderr.count("\n") == 1


def test_a_host_the_inventory_lacks_is_said_alike(tmp_path: Path) -> None:
    inventory = write_inventory(tmp_path / "hosts.yml", {"poller01": {}})
    cfg = tmp_path / "fleet.toml"
    cfg.write_text(f'[fleet]\ninventory = "{inventory}"\n[registry]\ncache_dir = "{tmp_path / "cache"}"\n')
    said = "pollerfleet: nope is not in the inventory group [pollers]\n"
    r = pollerfleet(cfg, "status", "--host", "nope")
    assert (r.returncode, r.stderr) == (3, said)  # a usage error: nothing was looked at
    r = pollerfleet(cfg, "desired", "nope")
    assert (r.returncode, r.stderr) == (1, said)  # the deploy job's question, answered no
    r = pollerfleet(cfg, "verify", "nope", "r/p:1@sha256:" + "a" * 64)
    assert (r.returncode, r.stderr) == (1, said)
    bare = tmp_path / "bare.toml"  # no [fleet] inventory: --inventory names it
    bare.write_text(f'[registry]\ncache_dir = "{tmp_path / "cache"}"\n')
    r = pollerfleet(bare, "desired", "nope", "--inventory", str(inventory))
    assert (r.returncode, r.stderr) == (1, said)
    r = pollerfleet(cfg, "sweep", "--host", "nope", "--host", "nada")
    assert (r.returncode, r.stderr) == (3, "pollerfleet: nope, nada are not in the inventory group [pollers]\n")
    r = pollerfleet(cfg, "reconcile", "--host", "poller01", "--host", "nope")  # not passed over in silence
    assert (r.returncode, r.stdout, r.stderr) == (3, "", said)


def imported_modules(argv: list[str]) -> set[str]:
    env = {k: v for k, v in os.environ.items() if k != "POLLERFLEET_CONFIG"}
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", *argv], capture_output=True, text=True, env=env, check=False
    )
    return {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if "|" in line}


@pytest.mark.parametrize("argv", [["--help"], ["status", "--help"], ["stale-result"], ["check-config"]])
def test_pollerfleet_start_up_imports_no_jenkins_client(argv: list[str]) -> None:
    """python-jenkins and requests are imported by the commands that talk to Jenkins, not at start-up."""
    imported = imported_modules(["-m", "pollerfleet", *argv])
    assert "pollerfleet.cli.main" in imported  # the measure worked
    assert not {"jenkins", "requests", "pollerfleet.clients.jenkins", "pollerfleet.actions.redeploy"} & imported


def test_check_poller_container_start_up_imports_no_cli(tmp_path: Path) -> None:
    imported = imported_modules([str(PLUGINS / "check_poller_container"), "--docker-url", f"unix://{tmp_path}/no"])
    assert "pollerfleet.checks.container" in imported
    assert not {m for m in imported if m == "pollerfleet.cli" or m.startswith("pollerfleet.cli.")}
