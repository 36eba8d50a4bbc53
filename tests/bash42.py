"""Find array expansions that bash 4.2 (CentOS 7) rejects under `set -u`.

Before bash 4.4, `"${a[@]}"`, `${a[*]}`, `${a[@]:N}` and `${!a[@]}` of an array without elements are
"unbound variable" errors under `set -u`, and the script dies. Every script that runs on EL7 (the
images' scripts, the Jenkins jobs) writes an array that may be empty as `${a[@]+"${a[@]}"}`
instead. An array needs no guard when it is known to hold an element at that line:

- every assignment of it in the file is a literal list with at least one word (`a=(x ...)`), and it
  is never filled by `read -a`, `mapfile`/`readarray` or declared without elements; or
- an earlier line tests its length: `[ ${#a[@]} -gt 0 ]` / `-ge N` / `-ne 0` (the script stops
  otherwise).

Usage: python3 tests/bash42.py FILE...   (exit 1 and one line per finding, `make lint` runs it)
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

NAME = r"[A-Za-z_][A-Za-z0-9_]*"
# ${a[@]}, ${a[*]}, ${a[@]:2}, ${!a[@]}; not ${#a[@]} (a count is fine) nor ${a[@]+...}/${a[@]-...}
EXPANSION = re.compile(r"\$\{(?P<bang>!?)(?P<name>" + NAME + r")\[[@*]\](?P<rest>[^}]*)\}")
GUARDED = re.compile(r"\$\{(?P<name>" + NAME + r')\[([@*])\]\+"\$\{(?P=name)\[\2\][^}]*\}"\}')
ASSIGN = re.compile(r"(?:^|[\s;(&|])(?P<name>" + NAME + r")(?P<op>\+?)=\((?P<body>[^)]*)\)")
FILLED = re.compile(
    r"(?:\bread\b[^;|&]*\s-[A-Za-z]*a\s*(?P<r>" + NAME + r")"
    r"|\b(?:mapfile|readarray)\b[^;|&]*?\s(?P<m>" + NAME + r")\s*(?:<|$)"
    r"|\b(?:declare|local|typeset)\s+-[A-Za-z]*[aA][A-Za-z]*\s+(?P<d>" + NAME + r")\s*(?:$|;))"
)
LENGTH_GUARD = re.compile(r"\$\{#(?P<name>" + NAME + r")\[[@*]\]\}\"?\s+-(?:gt\s+0|ge\s+[1-9]|ne\s+0)\b")


def _code(line: str) -> str:
    """The line without its comment (a # at the start of a word, outside quotes)."""
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = ""
            elif ch == "\\" and quote == '"':
                continue
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t;"):
            return line[:i]
    return line


def _nonempty_arrays(lines: list[str]) -> set[str]:
    literal: dict[str, bool] = {}
    for m in ASSIGN.finditer("\n".join(lines)):  # a list may span lines
        if not m.group("op"):  # an append never empties it
            literal[m.group("name")] = literal.get(m.group("name"), True) and bool(m.group("body").strip())
    for line in lines:
        for m in FILLED.finditer(line):
            name = m.group("r") or m.group("m") or m.group("d")
            literal[name] = False
    return {name for name, ok in literal.items() if ok}


def check(path: Path) -> list[str]:
    lines = [_code(line) for line in path.read_text().splitlines()]
    nonempty = _nonempty_arrays(lines)
    guarded_from: dict[str, int] = {}
    findings = []
    for number, line in enumerate(lines, 1):
        for m in LENGTH_GUARD.finditer(line):
            guarded_from.setdefault(m.group("name"), number)
        scan = GUARDED.sub("", line)
        for m in EXPANSION.finditer(scan):
            name, rest = m.group("name"), m.group("rest")
            if (not m.group("bang") and rest[:1] in "+-=?" and rest) or rest[:2] in (":+", ":-", ":=", ":?"):
                continue  # ${a[@]+...}: the operator itself never trips set -u
            if name in nonempty or guarded_from.get(name, number + 1) < number:
                continue
            fix = f'${{{name}[@]+"${{{name}[@]}}"}}' if not m.group("bang") else "a list of its keys kept beside it"
            findings.append(
                f"{path}:{number}: {m.group(0)} fails under set -u on bash 4.2 when {name} is empty; write {fix}"
            )
    return findings


def main(argv: list[str]) -> int:
    findings = [f for arg in argv for f in check(Path(arg))]
    for f in findings:
        print(f)
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
