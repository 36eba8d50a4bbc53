"""The fleet as Ansible itself reads it: ``ansible-inventory --list`` is the oracle.

One inventory (INI, and the same in YAML) uses every rule the suite implements: host ranges with
padding, letters and strides, ``host:port``, children, a host in several groups,
``ansible_group_priority``, group_vars/host_vars as files (with and without an extension) and
as directories (nested, with files Ansible skips), and the precedence between all of them.

Every answer is asked three ways: parsed, through the cache as it is first built (cold), and from
the cache alone (warm: parsing is then made to fail, so a warm answer cannot come from a parse).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pollerfleet.core import inventory
from pollerfleet.core.inventory import InventoryError, PollerHost, expand_host_range

# Ansible is the controller's tool, not the suite's: a run under another Python (make test-py38) names the
# main venv's bin/ (where Ansible is installed) in PFT_TOOLS_BIN.
TOOLS_BIN = Path(os.environ.get("PFT_TOOLS_BIN") or Path(sys.executable).parent)
ANSIBLE_INVENTORY = TOOLS_BIN / "ansible-inventory"

INI = """\
lonely ansible_host=127.0.0.9
[pollers]
poller[01:03] poller_vmware_enabled=true
poller04:2222 ansible_host=10.0.0.4 site="dc one" weight=3 ratio=1.5 tag=19.04 flag=True
[pollers:children]
dc2
edge
[dc2]
p[1:9:4]x     # p1x p5x p9x
[edge]
e[a:e:2]
poller02 who=edge
p1x
[dc2:vars]
ansible_group_priority=10
level=dc2
[edge:vars]
level=edge
[pollers:vars]
level=pollers
from_inventory=pollers
beaten_by_group_vars_all=inventory
[all:vars]
level=all
poller_central_host=central.example
[other]
central
"""

YAML = """\
all:
  vars:
    level: all
    poller_central_host: central.example
  hosts:
    lonely:
      ansible_host: 127.0.0.9
  children:
    pollers:
      vars:
        level: pollers
        from_inventory: pollers
        beaten_by_group_vars_all: inventory
      hosts:
        poller[01:03]:
          poller_vmware_enabled: "true"
        poller04:2222:
          ansible_host: 10.0.0.4
          site: dc one
          weight: 3
          ratio: 1.5
          tag: 19.04
          flag: true
      children:
        dc2:
          vars:
            ansible_group_priority: 10
            level: dc2
          hosts:
            p[1:9:4]x:
        edge:
          vars: {level: edge}
          hosts:
            e[a:e:2]:
            poller02: {who: edge}
            p1x:
    other:
      hosts: central
"""

FILES = {
    "group_vars/all.yml": "beaten_by_group_vars_all: files\npoller_docker_tls_dir: /etc/pf/tls\n",
    "group_vars/pollers/10-base.yml": "gv_level: pollers\npoller_image_tag: '19.04.5'\n",
    "group_vars/pollers/20-more.json": '{"gv_json": [1, 2], "gv_level": "pollers-json"}',
    "group_vars/pollers/sub/30-deep": "gv_deep: yes\n",
    "group_vars/pollers/.hidden.yml": "gv_hidden: true\n",
    "group_vars/pollers/backup.yml~": "gv_backup: true\n",
    "group_vars/pollers/notes.txt": "gv_txt: true\n",
    "group_vars/pollers/skip.d/x.yml": "gv_skipdir: true\n",
    "group_vars/dc2": "gv_level: dc2\n",
    "group_vars/dc2.yml": "gv_level: ignored-because-dc2-exists\n",
    "group_vars/edge.yaml": "gv_level: edge\n",
    "group_vars/other.yml": "",
    "host_vars/poller01.yml": "poller_image_tag: '19.04.1'\nlevel: host_vars\n",
    "host_vars/poller04/a.yml": "x: 1\n",
    "host_vars/poller04/b.yml": "x: 2\n",
    "host_vars/ea.json": '{"ansible_host": "127.0.0.5"}',
}


class Reader:
    """load() and find() as one of the three ways: parsed, cold cache, warm cache."""

    def __init__(self, way: str, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.way, self.cache, self.monkeypatch = way, cache, monkeypatch

    def _warm(self, inv: Path, group: str) -> None:
        if self.way == "warm":
            age(inv.parent)
            inventory.load(inv, group, cache_dir=self.cache)  # builds it
            assert list(self.cache.glob("inventory-*.sqlite")), "the cache was not written"
            self.monkeypatch.setattr(inventory._Inventory, "parse", _no_parse)

    def load(self, inv: Path, group: str = "pollers") -> dict[str, PollerHost]:
        if self.way == "parsed":
            return inventory.load(inv, group)
        self._warm(inv, group)
        try:
            return inventory.load(inv, group, cache_dir=self.cache)
        finally:
            self.monkeypatch.undo()

    def find(self, inv: Path, group: str = "pollers", name: str = "", address: str = "") -> PollerHost | None:
        if self.way == "parsed":
            return inventory.find(inv, group, name, address)
        self._warm(inv, group)
        try:
            return inventory.find(inv, group, name, address, cache_dir=self.cache)
        finally:
            self.monkeypatch.undo()


def _no_parse(self: object) -> None:
    raise AssertionError("parsed although the cache was warm")


def age(root: Path, seconds: float = 3600) -> None:
    """Every file and directory under ROOT as if written SECONDS ago (a file written a moment ago is
    never cached: its timestamp cannot yet tell a second change from the first)."""
    stamp = int((time.time() - seconds) * 1e9)
    for dirpath, dirnames, filenames in os.walk(root):
        for entry in [*dirnames, *filenames]:
            os.utime(os.path.join(dirpath, entry), ns=(stamp, stamp), follow_symlinks=False)
    os.utime(root, ns=(stamp, stamp))


@pytest.fixture(params=["parsed", "cold", "warm"])
def reader(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Reader:
    return Reader(request.param, tmp_path_factory.mktemp("cache"), monkeypatch)


def _tree(root: Path, inventory_name: str, text: str) -> Path:
    for rel, content in FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(content)
    inv = root / inventory_name
    inv.write_text(text)
    return inv


def _ansible(inv: Path) -> dict:
    cfg = inv.parent / "ansible.cfg"  # no other ansible.cfg (the repository's names its own inventory)
    cfg.write_text("[defaults]\n")
    env = {**os.environ, "ANSIBLE_CONFIG": str(cfg), "ANSIBLE_LOCAL_TEMP": str(inv.parent / ".tmp")}
    proc = subprocess.run(
        [str(ANSIBLE_INVENTORY), "-i", str(inv), "--list"], capture_output=True, text=True, env=env, check=True
    )
    return json.loads(proc.stdout)


def _members(listing: dict, group: str) -> set[str]:
    g = listing.get(group, {})
    found = set(g.get("hosts", []))
    for child in g.get("children", []):
        found |= _members(listing, child)
    return found


@pytest.mark.parametrize(("name", "text"), [("fleet.ini", INI), ("fleet.yml", YAML), ("fleet", INI), ("hosts", YAML)])
def test_same_fleet_and_variables_as_ansible_inventory(tmp_path: Path, name: str, text: str, reader: Reader) -> None:
    inv = _tree(tmp_path, name, text)
    oracle = _ansible(inv)
    hostvars = oracle["_meta"]["hostvars"]
    for group in ("all", "pollers", "edge", "dc2"):
        fleet = reader.load(inv, group)
        assert set(fleet) == _members(oracle, group), group
        for host, ph in fleet.items():
            assert json.loads(json.dumps(ph.vars)) == hostvars.get(host, {}), host
            one = reader.find(inv, group, name=host)
            assert one is not None and one.vars == ph.vars, host
    fleet = reader.load(inv)
    # the points the suite relies on, spelled out (the oracle agreeing is what makes them right)
    assert sorted(fleet) == ["ea", "ec", "ee", "p1x", "p5x", "p9x", "poller01", "poller02", "poller03", "poller04"]
    assert fleet["poller01"].vars["poller_image_tag"] == "19.04.1"  # host_vars pin beats group_vars
    assert fleet["poller02"].vars["poller_image_tag"] == "19.04.5"  # from the group_vars directory
    assert fleet["poller04"].vars["ansible_port"] == 2222 and fleet["poller04"].vars["x"] == 2
    assert fleet["p1x"].vars["level"] == "dc2"  # ansible_group_priority beats the name order
    assert fleet["poller02"].vars["level"] == "edge"  # the deeper group beats its parent
    assert fleet["poller03"].vars["beaten_by_group_vars_all"] == "files"
    assert fleet["ea"].address == "127.0.0.5" and fleet["poller02"].vmware_enabled
    # by address: the first host whose name or ansible_host it is; none for a stranger
    by_address = reader.find(inv, address="127.0.0.5")
    assert by_address is not None and by_address.name == "ea"
    by_name = reader.find(inv, address="poller03")
    assert by_name is not None and by_name.name == "poller03"
    assert reader.find(inv, address="10.9.9.9") is None and reader.find(inv, name="central") is None


@pytest.mark.parametrize(
    "pattern",
    ["poller[01:03]", "web[a:c]", "p[1:9:4]x", "db[01:10:3]-node[a:b]", "x[:2]", "h[x:B]", "plain", "n[08:11]"],
)
def test_host_ranges_expand_as_ansible_does(pattern: str) -> None:
    expected = [pattern]
    if "[" in pattern:
        code = "import json, sys; from ansible.plugins.inventory import expand_hostname_range as e; "
        code += "print(json.dumps(e(sys.argv[1])))"
        run = subprocess.run(
            [str(TOOLS_BIN / "python"), "-c", code, pattern], capture_output=True, text=True, check=True
        )
        expected = json.loads(run.stdout)
    assert expand_host_range(pattern) == expected


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("a.ini", "[pollers]\npoller[01:3]\n", "same width"),
        ("a.ini", "[pollers]\npoller[3:]\n", "needs an end"),
        ("a.ini", "[pollers]\np[c:a]\n", "begin <= end"),
        ("a.ini", "[pollers:children]\nnever\n", "undefined group never"),
        ("a.ini", "[pollers]\nx\n[ghost:vars]\na=1\n", "[ghost:vars] is for a group that is never defined"),
        ("a.ini", "[pollers]\nx\n[a:children]\npollers\n[pollers:children]\na\n", "its own ancestor"),
        ("a.yml", "plugin: amazon.aws.aws_ec2\n", "inventory plugin"),
        ("a.yml", "pollers:\n  host:\n    x:\n", "only hosts, children and vars"),
        ("a.yml", "pollers:\n  hosts:\n    x:\n      ansible_host: !vault |\n        $ANSIBLE_VAULT;1.1\n", "vault"),
        ("a.yml", "pollers:\n  hosts:\n    x:\n      poller_docker_url: 'tcp://{{ h }}:2376'\n", "Jinja template"),
        ("a.toml", "[pollers]\n", "TOML"),
    ],
)
def test_what_is_not_read_is_refused_with_the_reason(
    tmp_path: Path, name: str, text: str, message: str, reader: Reader
) -> None:
    p = tmp_path / name
    p.write_text(text)
    age(tmp_path)
    with pytest.raises(InventoryError) as err:
        reader.find(p, name="x")
    assert str(p) in str(err.value) and message in str(err.value)


def test_directory_script_and_vaulted_vars_are_refused(tmp_path: Path, reader: Reader) -> None:
    with pytest.raises(InventoryError, match="is a directory"):
        reader.load(tmp_path)
    script = tmp_path / "inv.py"
    script.write_text("#!/bin/sh\necho '{}'\n")
    script.chmod(0o755)
    with pytest.raises(InventoryError, match="executable inventory script"):
        reader.load(script)
    inv = tmp_path / "inv.ini"
    inv.write_text("[pollers]\nx\n")
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars" / "pollers.yml").write_text("$ANSIBLE_VAULT;1.1;AES256\n6162\n")
    with pytest.raises(InventoryError, match=r"pollers\.yml is vault-encrypted"):
        reader.load(inv)


def test_unsafe_values_are_plain_text(tmp_path: Path, reader: Reader) -> None:
    inv = tmp_path / "inv.yml"
    inv.write_text("pollers:\n  hosts:\n    x:\n      note: !unsafe '{{ raw }}'\n")
    assert reader.load(inv)["x"].vars["note"] == "{{ raw }}"


JSON_INVENTORY = """\
{"pollers": {"hosts": {"j1": {"big": 1e3, "ratio": 1.50, "stamp": "2019-04-05", "yes": "yes",
  "unsafe": {"__ansible_unsafe": "{{ raw }}"}, "nested": {"1": [true, null]}}}}}
"""


def test_json_is_read_as_json_first_as_ansible_does(tmp_path: Path, reader: Reader) -> None:
    """Ansible's loader tries JSON before YAML: 1e3 is a number there (YAML 1.1 reads it as text)."""
    inv = tmp_path / "fleet.json"
    inv.write_text(JSON_INVENTORY)
    oracle = _ansible(inv)["_meta"]["hostvars"]["j1"]
    got = reader.load(inv)["j1"].vars
    assert oracle.pop("unsafe") == {"__ansible_unsafe": "{{ raw }}"}  # how --list prints unsafe text
    assert got.pop("unsafe") == "{{ raw }}"
    assert got == oracle and got["big"] == 1000.0
