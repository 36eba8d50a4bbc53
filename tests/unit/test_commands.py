"""commands/: generated files are current, and every command line parses with the real plugin."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.helpers import PLUGINS, ROOT

sys.path.insert(0, str(ROOT / "commands"))
import generate

SOURCE = generate.load()


def load_plugin(name: str) -> ModuleType:
    loader = importlib.machinery.SourceFileLoader(f"plugin_{name}", str(PLUGINS / name))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def macro_values() -> dict[str, str]:
    """What the engine would put in each macro for a host using the suite's templates."""
    values = {"HOSTADDRESS": "poller01.example", "HOSTNAME": "poller01", "USER1": str(PLUGINS)}
    for t in SOURCE.get("host_template", []):
        values.update({f"_HOST{k}": v for k, v in t.get("macros", {}).items()})
    for t in SOURCE.get("service_template", []):
        values.update({f"_SERVICE{k}": v for k, v in t.get("macros", {}).items()})
    return values


def expand(line: str, values: dict[str, str]) -> str:
    return re.sub(r"\$([A-Z0-9_]+)\$", lambda m: values.get(m.group(1), m.group(0)), line)


def test_generated_files_are_current() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "commands" / "generate.py"), "--check"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("cmd", SOURCE["command"], ids=lambda c: c["name"])
def test_command_line_parses_with_the_plugin(cmd: dict[str, Any]) -> None:
    if cmd["plugin"] == "pollerfleet":  # the console script: its subcommand must exist
        from pollerfleet.cli import build_parser

        build_parser().parse_args(shlex.split(generate.command_line(SOURCE, cmd))[1:])
        return
    assert (PLUGINS / cmd["plugin"]).exists(), f"{cmd['plugin']} is not in plugins/"
    line = expand(generate.command_line(SOURCE, cmd), macro_values())
    argv = shlex.split(line)  # the engine hands the line to /bin/sh: the same word splitting
    assert argv[0] == f"{PLUGINS}/{cmd['plugin']}"
    if cmd["plugin"].startswith("handle_"):
        from pollerfleet.actions.handlers import rebuild_parser, redeploy_parser

        parser = redeploy_parser() if cmd["plugin"] == "handle_poller_redeploy" else rebuild_parser()
        args = parser.parse_args(argv[1:])  # a bad call raises here
        assert args.state == "$SERVICESTATE$"
        return
    module = load_plugin(cmd["plugin"])
    args = module.parser().parse_args(argv[1:])  # a bad option would exit 3 here
    if cmd["plugin"] != "check_engine_release":
        assert args.host == "poller01.example"


@pytest.mark.parametrize("cmd", SOURCE["command"], ids=lambda c: c["name"])
def test_every_macro_has_a_template_default(cmd: dict[str, Any]) -> None:
    known = macro_values()
    for macro in re.findall(r"\$([A-Z0-9_]+)\$", generate.command_line(SOURCE, cmd)):
        if macro.startswith(("_HOST", "_SERVICE")):
            assert macro in known, f"{cmd['name']} uses ${macro}$, which no template defines"


def test_templates_name_existing_commands() -> None:
    names = {c["name"] for c in SOURCE["command"]}
    for t in SOURCE.get("host_template", []) + SOURCE.get("service_template", []):
        assert t["check_command"] in names
        if t.get("event_handler"):
            assert t["event_handler"] in names


def test_clapi_and_objects_agree() -> None:
    clapi = (ROOT / "commands" / "centreon-clapi.txt").read_text()
    objects = (ROOT / "commands" / "pollerfleet-objects.cfg").read_text()
    for cmd in SOURCE["command"]:
        line = generate.command_line(SOURCE, cmd)
        assert f"CMD;ADD;{cmd['name']};{cmd.get('type', 'check')};{line}" in clapi

        assert re.search(rf"command_name\s+{cmd['name']}\n\s+command_line\s+{re.escape(line)}\n", objects)


# What a host's name or address may hold and Centreon still accepts: its default
# illegal_object_name_chars (~!$%^&*"|'<>?,()=) leave spaces, backticks, semicolons, dashes,
# backslashes, braces and # in.
HOSTILE = [
    "poller01 --dry-run",
    "poller01 --config /tmp/evil.toml",
    "`touch {marker}`",
    "poller01;touch {marker}",
    "--help",
    "-x",
    "a\\b {{x}} #c",
    "\ttab\nnewline",
]
_RECORDER = "#!/usr/bin/env python3\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n"


@pytest.mark.parametrize("cmd", SOURCE["command"], ids=lambda c: c["name"])
@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_macro_values_stay_one_argument_through_a_shell(
    cmd: dict[str, Any], hostile: str, tmp_path: Path
) -> None:
    """The engine hands the line to /bin/sh (Nagios does; Centreon Engine splits it the same way):
    with every name, address, state and value macro expanded to hostile text, the plugin gets
    each as exactly one argument, and nothing runs."""
    marker = tmp_path / "ran"
    value = hostile.format(marker=marker)
    (tmp_path / cmd["plugin"]).write_text(_RECORDER)
    (tmp_path / cmd["plugin"]).chmod(0o755)
    line = generate.command_line(SOURCE, cmd)
    quoted = re.findall(r"'\$([A-Z0-9_]+)\$'|=\'\$([A-Z0-9_]+)\$'", line)
    values = {m: f"{value}<{m}>" for pair in quoted for m in pair if m}
    values.update({"USER1": str(tmp_path)})
    raw = {m for m in re.findall(r"\$([A-Z0-9_]+)\$", cmd.get("raw", ""))}
    values.update({m: "" for m in raw})  # an administrator's option text: empty by default
    expanded = re.sub(r"\$([A-Z0-9_]+)\$", lambda m: values[m.group(1)], line)
    proc = subprocess.run(["/bin/sh", "-c", expanded], capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 0, proc.stderr
    argv = json.loads(proc.stdout)
    assert not marker.exists()
    expected = [
        re.sub(r"\$([A-Z0-9_]+)\$", lambda m: values[m.group(1)], word)
        for word in shlex.split(re.sub(r"\s*\$_[A-Z0-9_]*OPTIONS\$", "", line))[1:]
    ]
    assert argv == expected
    for macro in set(values) - raw - {"USER1"}:
        assert any(values[macro] in word for word in argv), macro


@pytest.mark.parametrize("cmd", SOURCE["command"], ids=lambda c: c["name"])
def test_every_macro_but_an_administrators_option_text_is_quoted(cmd: dict[str, Any]) -> None:
    line = generate.command_line(SOURCE, cmd)
    raw = cmd.get("raw", "")
    rest = line[: len(line) - len(raw)] if raw else line
    assert all(m.endswith("OPTIONS") for m in re.findall(r"\$([A-Z0-9_]+)\$", raw))
    # outside the raw text, every macro sits inside a single-quoted word
    unquoted = re.sub(r"'[^']*'", "", rest)
    assert "$" not in unquoted, unquoted
