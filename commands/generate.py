#!/usr/bin/env python3
"""Write the Centreon CLAPI import and the Nagios-style object file from commands/source.toml.

generate.py           write both files next to this script
generate.py --check   exit 1 (and say which) when a written file differs from the source
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "source.toml"
CLAPI = HERE / "centreon-clapi.txt"
OBJECTS = HERE / "pollerfleet-objects.cfg"
HEADER = "generated from commands/source.toml by commands/generate.py: edit the source, not this file"


def load(path: Path = SOURCE) -> dict[str, Any]:
    return tomllib.loads(path.read_text(encoding="utf-8"))


def quote(value: str) -> str:
    """One shell word, whatever the engine puts in the macros: a host name with a space or a
    backtick (Centreon's default illegal_object_name_chars allow both) stays one argument and is
    never run, and so does an option macro's text. A single quote is the one character this cannot
    hold: it is an illegal object name character, and source.toml tells to keep it out of custom
    macros (Centreon Engine strips it from event handler macros only)."""
    if "'" in value:
        raise ValueError(f"{value!r}: a single quote has no place in a quoted macro")
    return f"'{value}'"


def command_line(src: dict[str, Any], cmd: dict[str, Any]) -> str:
    """Every macro quoted: the plugin path, each positional macro, each option's value, and each
    administrator's option macro, passed as one word to --options (source.toml), which the plugin
    splits and parses itself."""
    parts = [quote(f"{src['plugin_dir']}/{cmd['plugin']}"), *map(quote, cmd.get("positional", []))]

    for option, value in cmd.get("args", []):
        is_short = option.startswith("-") and len(option) == 2
        parts.append(f"{option} {quote(value)}" if is_short else f"{option}={quote(value)}")
    # `=`: one word even when the macro's text starts with a dash
    parts += [f"--options={quote(macro)}" for macro in cmd.get("options", [])]
    return " ".join(parts)


# source key -> (CLAPI host parameter, CLAPI service parameter); object files use the source key.
_INTERVALS = {
    "max_check_attempts": ("max_check_attempts", "max_check_attempts"),
    "check_interval": ("check_interval", "normal_check_interval"),
    "retry_interval": ("retry_check_interval", "retry_check_interval"),
}
_SERVICE_PARAMS = (
    "event_handler",
    "event_handler_enabled",
    "check_freshness",
    "freshness_threshold",
    "active_checks_enabled",
    "passive_checks_enabled",
)


def clapi(src: dict[str, Any]) -> str:
    # No comment line, not even the provenance note: CLAPI's import (CentreonAPI::import) skips only
    # blank lines and the `{OBJECT_TYPE}` header; any other line is OBJECT;ACTION;..., so a `#` line
    # is looked up as an object type and fails. The note lives in the object file and the README.
    out: list[str] = []
    for cmd in src.get("command", []):
        out.append(f"CMD;ADD;{cmd['name']};{cmd.get('type', 'check')};{command_line(src, cmd)}")
    for t in src.get("host_template", []):
        out.append(f"HTPL;ADD;{t['name']};{t['alias']};;{t.get('use', '')};;")
        out.append(f"HTPL;setparam;{t['name']};check_command;{t['check_command']}")
        for key, (param, _) in _INTERVALS.items():
            if key in t:
                out.append(f"HTPL;setparam;{t['name']};{param};{t[key]}")
        for key in _SERVICE_PARAMS:
            if key in t:
                out.append(f"HTPL;setparam;{t['name']};{key};{_clapi_value(t[key])}")
        for macro, value in t.get("macros", {}).items():
            # HOST/HTPL setmacro reads name;macro;value;is_password;description (a missing
            # description is an undefined index in PHP): give all five, as CLAPI's export does.
            out.append(f"HTPL;setmacro;{t['name']};{macro};{value};0;")
    for t in src.get("service_template", []):
        out.append(f"STPL;ADD;{t['name']};{t['alias']};{t.get('use', '')}")
        out.append(f"STPL;setparam;{t['name']};check_command;{t['check_command']}")
        for key, (_, param) in _INTERVALS.items():
            if key in t:
                out.append(f"STPL;setparam;{t['name']};{param};{t[key]}")
        for key in _SERVICE_PARAMS:
            if key in t:
                out.append(f"STPL;setparam;{t['name']};{key};{_clapi_value(t[key])}")
        for macro, value in t.get("macros", {}).items():
            # STPL setmacro's optional fields changed order across releases (description, is_password
            # now; description only in 19.04): the three fields every release reads the same.
            out.append(f"STPL;setmacro;{t['name']};{macro};{value}")
        if t.get("host_template"):
            out.append(f"STPL;addhosttemplate;{t['name']};{t['host_template']}")
    return "\n".join(out) + "\n"


def _clapi_value(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _define(kind: str, fields: list[tuple[str, Any]]) -> str:
    width = max(len(k) for k, _ in fields) + 2
    body = "\n".join(f"    {k.ljust(width)}{_nagios_value(v)}".rstrip() for k, v in fields)
    return f"define {kind} {{\n{body}\n}}\n"


def _nagios_value(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def objects(src: dict[str, Any]) -> str:
    out = [f"# {HEADER}\n"]
    for cmd in src.get("command", []):
        out.append(_define("command", [("command_name", cmd["name"]), ("command_line", command_line(src, cmd))]))
    for t in src.get("host_template", []):
        # No `use` here: Centreon's generic-active-* templates exist only in Centreon (CLAPI).
        fields: list[tuple[str, Any]] = [("name", t["name"]), ("alias", t["alias"])]
        fields.append(("check_command", t["check_command"]))
        fields += [(k, t[k]) for k in _INTERVALS if k in t]
        fields += [(key, t[key]) for key in _SERVICE_PARAMS if key in t]
        fields += [(f"_{m}", v) for m, v in t.get("macros", {}).items()]  # empty too: an undefined macro stays literal
        fields.append(("register", 0))
        out.append(_define("host", fields))
    for t in src.get("service_template", []):
        fields = [("name", t["name"]), ("service_description", t["alias"])]
        fields.append(("check_command", t["check_command"]))
        fields += [(k, t[k]) for k in _INTERVALS if k in t]
        fields += [(key, t[key]) for key in _SERVICE_PARAMS if key in t]
        fields += [(f"_{m}", v) for m, v in t.get("macros", {}).items()]
        fields.append(("register", 0))
        out.append(_define("service", fields))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true", help="only compare, write nothing")
    args = p.parse_args(argv)
    src = load()
    wanted = {CLAPI: clapi(src), OBJECTS: objects(src)}
    stale = [path for path, text in wanted.items() if not path.exists() or path.read_text(encoding="utf-8") != text]
    if args.check:
        for path in stale:
            print(f"{path.name} is out of date: run make commands", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        path.write_text(wanted[path], encoding="utf-8")
        print(f"wrote {path.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
