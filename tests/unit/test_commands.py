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
# backslashes, braces and # in. Custom macros (the *OPTIONS macros among them) hold anything an
# administrator types, `$(...)` and double quotes too; a single quote is the one character no
# quoting survives (source.toml).
HOSTILE = [
    "poller01 --dry-run",
    "poller01 --config /tmp/evil.toml",
    "`touch {marker}`",
    "poller01;touch {marker}",
    "$(touch {marker})",
    '-v "--config /tmp/evil.toml',
    "--help",
    "-x",
    "a\\b {{x}} #c",
    "\ttab\nnewline",
]
_RECORDER = "#!/usr/bin/env python3\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n"
_MACRO = r"\$([A-Z0-9_]+)\$"


def through_a_shell(cmd: dict[str, Any], values: dict[str, str], tmp_path: Path) -> list[str]:
    """The argv the plugin gets when the engine hands the expanded line to /bin/sh (Nagios does;
    Centreon Engine splits it the same way, without a shell)."""
    (tmp_path / cmd["plugin"]).write_text(_RECORDER)
    (tmp_path / cmd["plugin"]).chmod(0o755)
    values = {**values, "USER1": str(tmp_path)}
    expanded = re.sub(_MACRO, lambda m: values[m.group(1)], generate.command_line(SOURCE, cmd))
    proc = subprocess.run(["/bin/sh", "-c", expanded], capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 0, proc.stderr
    return list(json.loads(proc.stdout))


@pytest.mark.parametrize("cmd", SOURCE["command"], ids=lambda c: c["name"])
@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_macro_values_stay_one_argument_through_a_shell(
    cmd: dict[str, Any], hostile: str, tmp_path: Path
) -> None:
    """With every name, address, state, value and option macro expanded to hostile text, the
    plugin gets each as exactly one argument, and nothing runs."""
    marker = tmp_path / "ran"
    value = hostile.format(marker=marker)
    line = generate.command_line(SOURCE, cmd)
    values = {m: f"{value}<{m}>" for m in re.findall(_MACRO, line) if m != "USER1"}
    argv = through_a_shell(cmd, values, tmp_path)
    assert not marker.exists()
    expected = [re.sub(_MACRO, lambda m: values[m.group(1)], word) for word in shlex.split(line)[1:]]
    assert argv == expected
    for macro in values:
        assert any(values[macro] in word for word in argv), macro
    for macro in cmd.get("options", []):  # each option macro: one word, given to --options
        assert f"--options={values[macro.strip('$')]}" in argv


def parse(cmd: dict[str, Any], argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[Any, str]:
    """ARGV parsed by the command's real parser: (namespace, '') or (None, the refusal)."""
    if cmd["plugin"].startswith("handle_"):
        from pollerfleet.actions.handlers import rebuild_parser, redeploy_parser

        parser = redeploy_parser() if cmd["plugin"] == "handle_poller_redeploy" else rebuild_parser()
        try:
            return parser.parse_args(argv), ""
        except ValueError as exc:  # the handler logs and audits it (test_redeploy_handler)
            return None, str(exc)
    try:
        return load_plugin(cmd["plugin"]).parser().parse_args(argv), ""
    except SystemExit as exc:
        out = capsys.readouterr().out
        assert exc.code == 3 and re.match(r"[A-Z]+ UNKNOWN - in --options ", out), out
        return None, out.splitlines()[0]


# an option that takes a value in each plugin, to show hostile text arriving as a value
_VALUE_OPTION = {"check_engine_release": "--package", "check_docker_host": "--tls-dir"}
WITH_OPTIONS = [c for c in SOURCE["command"] if c.get("options")]


_OPTION_TEXTS = [
    ("-v -v", True),  # a space: two options
    ("-v;touch {marker}", False),
    ("-v `touch {marker}`", False),
    ("-v $(touch {marker})", False),
    ('-v "', False),  # unbalanced quote
    ('-v "two words"', False),  # a double quote holds a value together: here a stray word
    ("--config /tmp/evil.toml", False),  # the configuration is the engine's
    ('--VALUE="$(touch {marker});`touch {marker}` a b"', None),  # one value, literally (plugins)
]


@pytest.mark.parametrize(
    ("cmd", "text", "parsed"),
    [
        pytest.param(cmd, text, parsed, id=f"{cmd['name']}-{text}")
        for cmd in WITH_OPTIONS
        for text, parsed in _OPTION_TEXTS
        if parsed is not None or not cmd["plugin"].startswith("handle_")  # a handler takes no free text
    ],
)
def test_hostile_option_macros_are_parsed_as_options_and_never_run(
    cmd: dict[str, Any], text: str, parsed: bool | None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "ran"
    option = _VALUE_OPTION.get(cmd["plugin"], "--tls-dir")
    value = text.replace("--VALUE", option).format(marker=marker)
    engine = {"SERVICESTATE": "CRITICAL", "SERVICESTATETYPE": "HARD", "SERVICEATTEMPT": "3"}
    values = {**macro_values(), **engine, **{m.strip("$"): value for m in cmd["options"]}}
    argv = through_a_shell(cmd, values, tmp_path)
    assert [w for w in argv if w.startswith("--options=")] == [f"--options={value}"] * len(cmd["options"])
    args, refusal = parse(cmd, argv, capsys)
    assert not marker.exists()
    if parsed is False:
        assert args is None and "--options" in refusal, refusal
    elif parsed:
        assert args is not None and args.verbose == 2 * len(cmd["options"]), refusal
    else:
        assert args is not None, refusal
        literal = f"$(touch {marker});`touch {marker}` a b"
        assert getattr(args, option.lstrip("-").replace("-", "_")) == literal


@pytest.mark.parametrize("cmd", SOURCE["command"], ids=lambda c: c["name"])
def test_every_macro_is_quoted(cmd: dict[str, Any]) -> None:
    """No exception, the administrator's option macros included: each macro is a whole
    single-quoted word (or an option's whole quoted value), so the shell never splits it."""
    assert "raw" not in cmd, "raw option text was replaced by options = [...] (passed as --options='...')"
    line = generate.command_line(SOURCE, cmd)
    macros = re.findall(_MACRO, line)
    assert macros
    assert line.startswith("'$USER1$/")  # the plugin path: $USER1$ is the resource macro of the plugins' directory
    for macro in set(macros) - {"USER1"}:
        assert re.search(rf"(^| |=)'\${macro}\$'( |$)", line), f"${macro}$ is not a whole quoted word in: {line}"
    unquoted = re.sub(r"'[^']*'", "", line)
    assert "$" not in unquoted, unquoted
