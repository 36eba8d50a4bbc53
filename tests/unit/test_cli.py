"""The operator command's skeleton: version, config check, usage errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pollerfleet import __version__


def pollerfleet(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pollerfleet", *args], capture_output=True, text=True, check=False)


def test_version() -> None:
    r = pollerfleet("--version")
    assert (r.returncode, r.stdout) == (0, f"pollerfleet {__version__}\n")


def test_check_config(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text("[docker]\nport = 2376\n")
    r = pollerfleet("--config", str(good), "check-config")
    assert (r.returncode, r.stdout) == (0, f"configuration OK: {good}\n")
    bad = tmp_path / "bad.toml"
    bad.write_text("[fleet]\ngroup = 3\n")
    r = pollerfleet("--config", str(bad), "check-config")
    assert r.returncode == 2
    assert r.stderr == f"pollerfleet: config file {bad}: [fleet] group must be a string\n"


def test_no_command_prints_usage() -> None:
    r = pollerfleet()
    assert r.returncode == 2 and r.stdout.startswith("usage: pollerfleet")


@pytest.mark.parametrize("value", ["zz", "nan", "inf", "-inf", "1e999", "1:zz"])
@pytest.mark.parametrize("option", ["--critical-lag", "--critical-behind"])
def test_reconcile_refuses_bad_thresholds_in_one_line(tmp_path: Path, option: str, value: str) -> None:
    cfg = tmp_path / "fleet.toml"
    cfg.write_text(f'[fleet]\ninventory = "{tmp_path / "absent.yml"}"\n')
    r = pollerfleet("--config", str(cfg), "reconcile", f"{option}={value}")
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.startswith(f"pollerfleet reconcile: argument {option}: invalid range {value!r}"), r.stderr


@pytest.mark.parametrize("value", ["nan", "inf", "0", "x"])
def test_wait_timeout_must_be_a_finite_positive_number(value: str) -> None:
    r = pollerfleet("redeploy", "poller01", f"--wait-timeout={value}")
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
