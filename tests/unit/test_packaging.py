"""packaging/: the example configuration the package installs, and the per-target requirements."""

from __future__ import annotations

import configparser
import re
import subprocess
import sys
from pathlib import Path

from packaging.requirements import Requirement

from pollerfleet.core import config
from tests.helpers import ROOT

EXAMPLE = ROOT / "packaging" / "fleet.toml"


def test_the_example_as_shipped_sets_nothing() -> None:
    """Installed as /etc/pollerfleet/fleet.toml: the suite must run on its defaults until edited."""
    assert config.load(str(EXAMPLE)) == config.Config(path=EXAMPLE)


def test_every_commented_key_of_the_example_is_a_real_key(tmp_path: Path) -> None:
    """Uncommented, the example must load: a key renamed in the suite cannot linger here."""
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    active = [m[1] for line in lines if (m := re.match(r"^# (\[\w+\].*|\w+ = .*)$", line))]
    assert len(active) >= 10
    path = tmp_path / "fleet.toml"
    path.write_text("\n".join(active) + "\n", encoding="utf-8")
    loaded = config.load(str(path))
    assert loaded.registry.url == "https://registry.example.com:5000"
    assert str(loaded.fleet.inventory) == "/etc/pollerfleet/inventory.ini"


def requirements(target: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, str(ROOT / "packaging" / "requirements.py"), target],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.split()


def test_requirements_follow_the_target_python_not_the_builder() -> None:
    """pip would judge `python_version < "3.11"` by the Python running pip: the RPMs' 3.8 and 3.9 need tomli."""
    on_38, on_39, on_311 = requirements("3.8"), requirements("3.9"), requirements("3.11")
    assert "tomli>=1.1" in on_38 and on_38 == on_39
    assert not any(r.startswith("tomli") for r in on_311)
    assert [r for r in on_39 if not r.startswith("tomli")] == on_311
    assert any(r.startswith("nagiosplugin") for r in on_311)


def test_the_suite_declares_python_38_its_floor() -> None:
    """CentOS 7 (Centreon 19.04) has rh-python38: nothing may claim more."""
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg", encoding="utf-8")
    assert cfg["options"]["python_requires"] == ">=3.8"


def test_el7_keeps_urllib3_below_2_for_centos7_openssl() -> None:
    """rh-python38 links CentOS 7's OpenSSL 1.0.2k; urllib3 2 raises ImportError below OpenSSL 1.1.1.
    The EL7 package and the 3.8 test venv (make test-py38) take the same constraints."""
    lines = (ROOT / "packaging" / "constraints-el7.txt").read_text(encoding="utf-8").splitlines()
    constraints = [Requirement(line) for line in lines if line and not line.startswith("#")]
    urllib3 = [c for c in constraints if c.name == "urllib3"]
    assert len(urllib3) == 1 and "1.26.20" in urllib3[0].specifier and "2.0.0" not in urllib3[0].specifier
    if sys.version_info[:2] == (3, 8):  # make test-py38: the tests run with what the EL7 package carries
        import urllib3

        assert urllib3.__version__.startswith("1."), urllib3.__version__
