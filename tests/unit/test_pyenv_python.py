"""tests/env/pyenv-python.sh: which interpreter `make test-py38` and `make test-py36` run on, or a loud failure."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.helpers import ROOT

SCRIPT = ROOT / "tests" / "env" / "pyenv-python.sh"


def fake_python(root: Path, version: str, says: str) -> Path:
    """A pyenv version directory whose bin/pythonX.Y answers the version probe with `says`."""
    xy = ".".join(version.split(".")[:2])
    py = root / "versions" / version / "bin" / f"python{xy}"
    py.parent.mkdir(parents=True)
    py.write_text(f"#!/bin/sh\necho {says}\n")
    py.chmod(0o755)
    return py


def find(root: Path, want: str) -> subprocess.CompletedProcess[str]:
    # pyenv itself kept off PATH, so PYENV_ROOT decides
    env = {"PATH": "/usr/bin:/bin", "PYENV_ROOT": str(root), "HOME": str(root / "home")}
    return subprocess.run(["bash", str(SCRIPT), want], capture_output=True, text=True, env=env, check=False)


def test_the_newest_patch_release_of_the_version_asked_for(tmp_path: Path) -> None:
    fake_python(tmp_path, "3.8.9", "3.8")
    newest = fake_python(tmp_path, "3.8.18", "3.8")
    fake_python(tmp_path, "3.9.18", "3.9")
    fake_python(tmp_path, "3.8-dev", "3.8")
    r = find(tmp_path, "3.8")
    assert (r.returncode, r.stdout, r.stderr) == (0, f"{newest}\n", "")


def test_no_interpreter_fails_and_says_where_it_looked(tmp_path: Path) -> None:
    fake_python(tmp_path, "3.9.18", "3.9")
    r = find(tmp_path, "3.8")
    assert (r.returncode, r.stdout) == (1, "")
    assert r.stderr.startswith(f"pyenv-python.sh: no Python 3.8 under {tmp_path}/versions ")
    assert "pyenv install 3.8" in r.stderr


def test_an_interpreter_that_is_another_version_is_refused(tmp_path: Path) -> None:
    py = fake_python(tmp_path, "3.6.15", "3.7")
    r = find(tmp_path, "3.6")
    assert (r.returncode, r.stdout, r.stderr) == (1, "", f"pyenv-python.sh: {py} is Python 3.7, not 3.6\n")


def test_the_default_root_is_home_pyenv(tmp_path: Path) -> None:
    py = fake_python(tmp_path / "home" / ".pyenv", "3.6.15", "3.6")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path / "home")}
    r = subprocess.run(["bash", str(SCRIPT), "3.6"], capture_output=True, text=True, env=env, check=False)
    assert (r.returncode, r.stdout) == (0, f"{py}\n")


@pytest.mark.parametrize("bad", ["3", "3.8.18", "python3.8", ""])
def test_only_a_python_x_y_is_asked_for(tmp_path: Path, bad: str) -> None:
    r = find(tmp_path, bad)
    assert r.returncode == 2 and r.stdout == "" and r.stderr.startswith("pyenv-python.sh: ")
