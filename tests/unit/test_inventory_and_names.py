"""The fleet list from the Ansible inventory (both formats), and name validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from pollerfleet.core.inventory import InventoryError, load
from pollerfleet.core.names import printable, valid_hostname, valid_version

YAML = """
all:
  vars:
    poller_central_host: central.example
    poller_vmware_enabled: false
  children:
    pollers:
      vars:
        poller_image_tag: "19.04.5"
      hosts:
        poller01:
          ansible_host: 10.0.0.1
          poller_vmware_enabled: true
      children:
        pollers_dc2:
          vars:
            poller_image_tag: "19.04.1"
          hosts:
            poller02:
              poller_docker_url: tcp://10.0.2.2:2376
    other:
      hosts:
        central:
"""

INI = """
# the fleet
[pollers]
poller01 ansible_host=10.0.0.1 poller_vmware_enabled=true
[pollers:children]
pollers_dc2
[pollers_dc2]
poller02 poller_docker_url=tcp://10.0.2.2:2376
[pollers_dc2:vars]
poller_image_tag=19.04.1
[pollers:vars]
poller_image_tag=19.04.5
[all:vars]
poller_central_host=central.example
[other]
central
"""


@pytest.mark.parametrize(("name", "text"), [("inv.yml", YAML), ("inv.ini", INI)])
def test_both_formats_give_the_same_fleet(tmp_path: Path, name: str, text: str) -> None:
    p = tmp_path / name
    p.write_text(text)
    fleet = load(p)
    assert sorted(fleet) == ["poller01", "poller02"]
    one, two = fleet["poller01"], fleet["poller02"]
    assert one.address == "10.0.0.1" and one.vmware_enabled and one.docker_url is None
    assert two.address == "poller02" and not two.vmware_enabled and two.docker_url == "tcp://10.0.2.2:2376"
    assert one.vars["poller_image_tag"] == "19.04.5"
    assert two.vars["poller_image_tag"] == "19.04.1"  # the nearer group wins
    assert two.vars["poller_central_host"] == "central.example"


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("a.yml", "all: [1, 2\n", "is not valid YAML"),
        ("a.yml", "- 1\n", "must be a mapping of groups"),
        ("a.yml", "all:\n  children:\n    other: {}\n", "has no group [pollers]"),
        ("a.ini", "[pollers\nx\n", "line 1: unclosed section"),
        ("a.ini", "[pollers]\nx novalue\n", "expected key=value"),
        ("a.ini", "[pollers:weird]\n", "unknown section kind"),
    ],
)
def test_errors_name_the_file(tmp_path: Path, name: str, text: str, message: str) -> None:
    p = tmp_path / name
    p.write_text(text)
    with pytest.raises(InventoryError) as err:
        load(p)
    assert str(p) in str(err.value) and message in str(err.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="cannot be read"):
        load(tmp_path / "nope.yml")


@pytest.mark.parametrize("name", ["poller01", "poller-01.dc2.example.com", "a", "1poller", "x" * 63])
def test_valid_hostnames(name: str) -> None:
    assert valid_hostname(name)


@pytest.mark.parametrize(
    "name",
    [
        "",
        "poller01;rm -rf /",
        "../x",
        "-oProxyCommand=x",
        "poller_01",
        "a..b",
        "-a",
        "a-",
        "x" * 64,
        "a." * 127 + "a",
        "poller01.",
        "poller 01",
        "pöller",
        "a/b",
        "$(id)",
        "poller01\n",
    ],
)
def test_invalid_hostnames(name: str) -> None:
    assert not valid_hostname(name)


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("19.04.5", True),
        ("19.04.10", True),
        ("v19.04.5", True),
        ("19.04.5-3", True),
        ("latest", False),
        ("19", False),
        ("19.04.5;id", False),
        ("", False),
        ("19.04.5 ", False),
    ],
)
def test_versions(text: str, ok: bool) -> None:
    assert valid_version(text) is ok


def test_printable_bounds_and_cleans() -> None:
    assert printable("a\nb\x1b[31m") == "a?b?[31m"
    assert printable("x" * 100, 10) == "x" * 10 + "..."
