"""tests/bash42.py: the lint step that finds array expansions bash 4.2 (CentOS 7) rejects under
`set -u` when the array is empty, and the scripts that run on EL7 free of them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.bash42 import check
from tests.helpers import ROOT


@pytest.mark.parametrize(
    "script",
    [
        'a=()\ncmd "${a[@]}"\n',
        "a=()\necho ${a[*]}\n",
        'read -r -a a <<<"$X"\ncmd "${a[@]}"\n',
        'a=(x)\nread -r -a a <<<"$X"\ncmd "${a[@]}"\n',  # refilled: may be empty again
        'mapfile -t a < <(true)\ncmd "${a[@]}"\n',
        'declare -a a\ncmd "${a[@]}"\n',
        'a=()\nfor x in "${a[@]:1}"; do :; done\n',
        'declare -A v=()\nfor k in "${!v[@]}"; do :; done\n',
        'cmd "${undeclared[@]}"\n',
        'a=()\ncmd "${a[@]}"\n[ ${#a[@]} -gt 0 ] || exit 1\n',  # the test comes after the use
        'a=()\n[ ${#a[@]} -eq 0 ] || cmd "${a[@]}"\n',
    ],
)
def test_an_expansion_of_a_possibly_empty_array_is_found(tmp_path: Path, script: str) -> None:
    f = tmp_path / "s.sh"
    f.write_text("set -u\n" + script)
    findings = check(f)
    assert len(findings) == 1 and "fails under set -u on bash 4.2" in findings[0], findings


@pytest.mark.parametrize(
    "script",
    [
        'a=()\ncmd ${a[@]+"${a[@]}"}\n',
        'a=()\ncmd ${a[*]+"${a[*]}"}\n',
        'a=(x)\na+=(y)\ncmd "${a[@]}"\n',
        'a=(--registry "$R"\n  --context c)\ncmd "${a[@]}"\n',  # a literal over two lines
        "a=()\necho ${#a[@]}\n",
        'read -r -a a <<<"$X"\n[ ${#a[@]} -gt 0 ] || exit 64\nfor x in "${a[@]}"; do :; done\n',
        'a=()\n# cmd "${a[@]}" in a comment\n',
        "a=()\necho '# not a comment' # cmd \"${a[@]}\"\n",
        'a=()\necho "${a[@]:-none}"\n',
    ],
)
def test_a_guarded_or_known_nonempty_expansion_passes(tmp_path: Path, script: str) -> None:
    f = tmp_path / "s.sh"
    f.write_text("set -u\n" + script)
    assert check(f) == []


@pytest.mark.parametrize("values", [[], ["one"], ["with space", "", "*"]])
def test_the_guarded_form_expands_to_exactly_the_elements(values: list[str]) -> None:
    """What the lint asks for is what a script means: no word for an empty array, each element one word."""
    script = 'set -u; a=("$@"); printf "<%s>" ${a[@]+"${a[@]}"}; echo'
    out = subprocess.run(["bash", "-c", script, "bash", *values], capture_output=True, text=True, check=True).stdout
    assert out == "".join(f"<{v}>" for v in values) + ("\n" if values else "<>\n")


def test_every_script_that_runs_on_el7_is_clean() -> None:
    scripts = sorted(str(p) for d in ("images", "jenkins") for p in (ROOT / d).rglob("*.sh"))
    assert scripts
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "bash42.py"), *scripts], capture_output=True, text=True, check=False
    )
    assert (proc.returncode, proc.stdout) == (0, "")
