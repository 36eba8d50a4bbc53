"""The parsed inventory kept in the cache directory: rebuilt when any file it was read from
changes, written whole and never through a link, never believed when it is not its own."""

from __future__ import annotations

import datetime
import os
import stat
import sys
import time
from pathlib import Path

import pytest

from pollerfleet.core import inventory
from tests.unit.test_inventory_ansible import age

INV = "pollers:\n  hosts:\n    p1:\n      ansible_host: 10.0.0.1\n    p2:\n      poller_image_tag: '19.04.1'\n"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "fleet").mkdir()
    inv = tmp_path / "fleet" / "hosts.yml"
    inv.write_text(INV)
    (tmp_path / "fleet" / "group_vars").mkdir()
    (tmp_path / "fleet" / "group_vars" / "pollers.yml").write_text("poller_image_repository: a/b\n")
    age(tmp_path / "fleet")
    return inv


def cache_files(cache: Path) -> list[Path]:
    return sorted(cache.glob("inventory-*.sqlite"))


def warm(monkeypatch: pytest.MonkeyPatch) -> None:
    """From here on a parse fails the test: the answer must come from the cache."""

    def refuse(self: object) -> None:
        raise AssertionError("parsed although the cache was warm")

    monkeypatch.setattr(inventory._Inventory, "parse", refuse)


def pin(inv: Path, cache: Path, name: str = "p2") -> object:
    host = inventory.find(inv, name=name, cache_dir=cache)
    assert host is not None
    return host.vars.get("poller_image_tag")


def rewrite(path: Path, text: str, seconds: float = 600) -> None:
    """Change PATH's contents (same size allowed) and date it SECONDS ago: only its identity tells."""
    path.write_text(text)
    stamp = path.stat().st_mtime_ns - int(seconds * 1e9)
    os.utime(path, ns=(stamp, stamp))


def test_a_warm_look_up_reads_no_inventory_file(tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    assert pin(tree, cache) == "19.04.1"
    assert len(cache_files(cache)) == 1
    warm(monkeypatch)
    assert pin(tree, cache) == "19.04.1"
    host = inventory.find(tree, address="10.0.0.1", cache_dir=cache)
    assert host is not None and host.name == "p1"
    assert inventory.find(tree, name="stranger", cache_dir=cache) is None
    assert set(inventory.load(tree, cache_dir=cache)) == {"p1", "p2"}


@pytest.mark.parametrize(
    ("rel", "text", "expected"),
    [
        ("hosts.yml", INV.replace("19.04.1", "19.04.2"), "19.04.2"),  # same size, in place
        ("group_vars/pollers.yml", "poller_image_tag: '19.04.3'\n", "19.04.1"),  # the host's own pin still wins
        ("group_vars/all.yml", "poller_image_tag: '19.04.4'\n", "19.04.1"),  # a new file: the directory changed
        ("host_vars/p2.yml", "poller_image_tag: '19.04.5'\n", "19.04.5"),  # a new directory
    ],
)
def test_any_change_to_a_file_read_rebuilds_it(tree: Path, tmp_path: Path, rel: str, text: str, expected: str) -> None:
    cache = tmp_path / "cache"
    assert pin(tree, cache) == "19.04.1"
    before = cache_files(cache)[0].stat().st_ino
    target = tree.parent / rel
    target.parent.mkdir(exist_ok=True)
    rewrite(target, text)
    age(target.parent, 900)
    assert pin(tree, cache) == expected
    assert cache_files(cache)[0].stat().st_ino != before  # replaced by a new file, not edited


def test_a_host_vars_file_edited_in_place_is_seen(tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hv = tree.parent / "host_vars"
    hv.mkdir()
    (hv / "p2.yml").write_text("poller_image_tag: '19.04.6'\n")
    (hv / "p1.yml").write_text("ansible_host: 10.0.0.1\n")
    age(tree.parent)
    cache = tmp_path / "cache"
    assert pin(tree, cache) == "19.04.6"
    rewrite(hv / "p2.yml", "poller_image_tag: '19.04.7'\n")  # the directory does not change
    assert pin(tree, cache) == "19.04.7"
    # an address can move to another host through that host's host_vars: an address look-up sees it
    rewrite(hv / "p1.yml", "ansible_host: 10.0.0.9\n")
    host = inventory.find(tree, address="10.0.0.9", cache_dir=cache)
    assert host is not None and host.name == "p1"


def test_files_changed_a_moment_ago_are_not_cached(tmp_path: Path) -> None:
    inv = tmp_path / "hosts.yml"
    inv.write_text(INV)
    cache = tmp_path / "cache"
    assert pin(inv, cache) == "19.04.1"
    assert cache_files(cache) == []  # a second change within the clock's step would go unseen
    age(tmp_path)
    assert pin(inv, cache) == "19.04.1"
    assert len(cache_files(cache)) == 1


def test_a_corrupt_or_foreign_cache_is_not_believed(tree: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    pin(tree, cache)
    (path,) = cache_files(cache)
    path.write_bytes(b"SQLite format 3\0" + b"\xff" * 200)
    assert pin(tree, cache) == "19.04.1"
    # the cache of another inventory under this one's name: it says so itself, and is rebuilt
    other = tmp_path / "other.yml"
    other.write_text(INV.replace("19.04.1", "19.04.9"))
    age(tmp_path)
    pin(other, tmp_path / "cache2")
    (theirs,) = cache_files(tmp_path / "cache2")
    os.replace(theirs, path)
    assert pin(tree, cache) == "19.04.1"


def test_a_link_in_the_cache_directory_is_neither_followed_nor_written_through(tree: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    pin(tree, cache)
    (path,) = cache_files(cache)
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    path.unlink()
    path.symlink_to(victim)
    assert pin(tree, cache) == "19.04.1"
    assert victim.read_text() == "precious\n"
    assert not path.is_symlink() and stat.S_ISREG(path.lstat().st_mode)
    assert [p.name for p in cache.iterdir() if p.name.endswith(".tmp")] == []


def test_the_cache_is_no_more_readable_than_its_sources(tree: Path, tmp_path: Path) -> None:
    tree.chmod(0o640)
    (tree.parent / "group_vars" / "pollers.yml").chmod(0o600)
    age(tree.parent)
    cache = tmp_path / "cache"
    pin(tree, cache)
    (path,) = cache_files(cache)
    assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0


def test_an_unwritable_cache_directory_only_costs_the_parse(tree: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert pin(tree, blocker / "cache") == "19.04.1"  # its parent is a file: nothing can be written


def test_values_json_cannot_hold_come_back_unchanged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inv = tmp_path / "hosts.yml"
    inv.write_text(
        "pollers:\n  hosts:\n    p1:\n      day: 2019-04-05\n      when: 2019-04-05 10:00:00\n"
        "      blob: !!binary aGVsbG8=\n      bag: !!set {a, b}\n      nan: .nan\n      inf: -.inf\n"
        "      keyed: {1: one, 2.5: two, null: three}\n      __pollerfleet_type: mine\n"
    )
    age(tmp_path)
    cache = tmp_path / "cache"
    parsed = inventory.load(inv)["p1"].vars
    inventory.load(inv, cache_dir=cache)
    warm(monkeypatch)
    cached = inventory.load(inv, cache_dir=cache)["p1"].vars
    assert cached["day"] == datetime.date(2019, 4, 5) and cached["blob"] == b"hello"
    assert cached["nan"] != cached["nan"] and cached["inf"] == float("-inf")
    parsed.pop("nan")
    cached.pop("nan")
    assert cached == parsed
    assert [type(k) for k in cached["keyed"]] == [int, float, type(None)]


def test_a_python_without_sqlite3_parses_as_without_a_cache(
    tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "sqlite3", None)  # import sqlite3 now raises ImportError
    cache = tmp_path / "cache"
    assert pin(tree, cache) == "19.04.1"
    assert set(inventory.load(tree, cache_dir=cache)) == {"p1", "p2"}
    assert not cache.exists()


@pytest.mark.parametrize(
    ("value", "canary"),
    [(True, True), ("yes", True), ("On", True), (1, True), ("false", False), (0, False), ("maybe", False)],
)
def test_canaries_come_from_the_cache_index_without_decoding_any_host(
    tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: object, canary: bool
) -> None:
    """What an image check asks of every fleet with promotion: which hosts are canaries. The index
    answers as a parse does (Ansible's truth rules), and a host_vars change is seen."""
    cache = tmp_path / "cache"
    host_vars = tree.parent / "host_vars"
    host_vars.mkdir()
    rewrite(host_vars / "p1.yml", f"poller_canary: {value!r}\n".replace("'", '"'))
    age(tree.parent)
    parsed = frozenset(n for n, h in inventory.load(tree).items() if h.canary)
    assert parsed == ({"p1"} if canary else set())
    assert inventory.canaries(tree, cache_dir=cache) == parsed  # cold: parsed and kept
    with monkeypatch.context() as m:
        warm(m)
        m.setattr(inventory, "_decode", lambda value: pytest.fail("a host's variables were decoded"))
        assert inventory.canaries(tree, cache_dir=cache) == parsed
    rewrite(host_vars / "p1.yml", "poller_canary: no\n")  # another host's file: seen all the same
    assert inventory.canaries(tree, cache_dir=cache) == frozenset()


def test_canaries_see_a_host_vars_directory_edited_removed_or_linked(
    tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every host's files are checked from one list kept in the cache (not a row per host): a file
    of a host_vars/HOST/ directory edited in place, a host_vars file removed and a dangling link
    that comes to point at a file are each seen."""
    cache = tmp_path / "cache"
    host_vars = tree.parent / "host_vars"
    (host_vars / "p1").mkdir(parents=True)
    rewrite(host_vars / "p1" / "main.yml", "poller_canary: true\n")
    rewrite(host_vars / "p2.yml", "poller_canary: true\n")
    (host_vars / "target.yml").symlink_to(tmp_path / "absent.yml")
    age(tree.parent)
    assert inventory.canaries(tree, cache_dir=cache) == {"p1", "p2"}
    with monkeypatch.context() as m:
        warm(m)
        assert inventory.canaries(tree, cache_dir=cache) == {"p1", "p2"}
    rewrite(host_vars / "p1" / "main.yml", "poller_canary: no\n")  # neither directory changes
    assert inventory.canaries(tree, cache_dir=cache) == {"p2"}
    (host_vars / "p2.yml").unlink()
    assert inventory.canaries(tree, cache_dir=cache) == frozenset()
    rewrite(tree, INV + "    target:\n")
    age(tree.parent)
    assert inventory.canaries(tree, cache_dir=cache) == frozenset()  # the link dangles: no variables
    with monkeypatch.context() as m:
        warm(m)
        assert inventory.canaries(tree, cache_dir=cache) == frozenset()
    rewrite(tmp_path / "absent.yml", "poller_canary: yes\n")
    assert inventory.canaries(tree, cache_dir=cache) == {"target"}


def test_canaries_for_an_image_check_look_at_every_host_vars_file_once_a_minute(
    tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With recheck_after (what an image check passes), the host_vars files, the part that grows
    with the fleet, are examined at most once in that time; the inventory and group_vars every
    time. A stamp that is not the cache's own, is a link or is garbage means a full look."""
    cache = tmp_path / "cache"
    host_vars = tree.parent / "host_vars"
    host_vars.mkdir()
    rewrite(host_vars / "p1.yml", "poller_canary: true\n")
    age(tree.parent)
    now = [1_900_000_000.0]
    monkeypatch.setattr(time, "time", lambda: now[0])
    assert inventory.canaries(tree, cache_dir=cache, recheck_after=60) == {"p1"}  # cold: parsed
    assert inventory.canaries(tree, cache_dir=cache, recheck_after=60) == {"p1"}  # warm: files examined
    stamps = list(cache.glob("*.checked"))
    assert len(stamps) == 1
    with monkeypatch.context() as m:
        warm(m)
        m.setattr(inventory, "_identities", lambda *a: pytest.fail("host_vars examined within the minute"))
        rewrite(host_vars / "p1.yml", "poller_canary: no\n")
        now[0] += 59
        assert inventory.canaries(tree, cache_dir=cache, recheck_after=60) == {"p1"}  # not seen yet
    assert inventory.canaries(tree, cache_dir=cache) == frozenset()  # without recheck_after: exact
    rewrite(host_vars / "p1.yml", "poller_canary: yes\n")
    assert inventory.canaries(tree, cache_dir=cache, recheck_after=60) == {"p1"}  # cache rebuilt: stamp stale
    assert inventory.canaries(tree, cache_dir=cache, recheck_after=60) == {"p1"}  # stamped again
    rewrite(host_vars / "p1.yml", "poller_canary: no\n")
    now[0] += 61
    assert inventory.canaries(tree, cache_dir=cache, recheck_after=60) == frozenset()  # the minute is over
    # the inventory itself is checked every time, within the minute too
    assert inventory.canaries(tree, cache_dir=cache, recheck_after=60) == frozenset()
    rewrite(tree, INV.replace("poller_image_tag: '19.04.1'", "poller_canary: true"))
    assert inventory.canaries(tree, cache_dir=cache, recheck_after=60) == {"p2"}
    # a stamp that cannot be believed: examined again
    assert inventory.canaries(tree, cache_dir=cache, recheck_after=60) == {"p2"}
    (stamp,) = cache.glob("*.checked")
    for planted in ("garbage", "link"):
        stamp.unlink()
        if planted == "link":
            (tmp_path / "elsewhere").write_text(stamp.name)
            stamp.symlink_to(tmp_path / "elsewhere")
        else:
            stamp.write_text("12:34 not-a-time\n")
        with monkeypatch.context() as m:
            m.setattr(inventory, "_identities", lambda *a: pytest.fail("examined"))
            with pytest.raises(pytest.fail.Exception, match="examined"):
                inventory.canaries(tree, cache_dir=cache, recheck_after=60)
