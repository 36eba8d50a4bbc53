"""fetch_config.install(): every file and directory of the new tree reaches the disk before
`current` switches to it, and the switch before old trees are pruned (#22.14). The order of the
system calls is what a power cut would expose; it is recorded, not timed."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import ROOT


def load() -> Any:
    spec = importlib.util.spec_from_file_location(
        "fetch_config", ROOT / "images" / "centreon-engine" / "fetch_config.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_install_syncs_the_tree_then_switches_then_prunes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fc = load()
    config = tmp_path / "etc"
    (config / "releases" / "20000101T000000Z-1-000001").mkdir(parents=True)  # an old release, to be pruned
    staging = config / ".staging"
    (staging / "broker").mkdir(parents=True)
    (staging / "centengine.cfg").write_text("cfg_dir=/etc/centreon-engine\n")
    (staging / "broker" / "central-module.json").write_text("{}\n")
    os.mkfifo(staging / "a-fifo")  # never opened: an open would block
    events: list[tuple[str, str]] = []
    real_fsync, real_replace, real_rmtree = os.fsync, os.replace, fc.shutil.rmtree

    def fsync(fd: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src: Any, dst: Any) -> None:
        events.append(("replace", str(dst)))
        real_replace(src, dst)

    def rmtree(path: Any, *a: Any, **kw: Any) -> None:
        events.append(("rmtree", str(path)))
        real_rmtree(path, *a, **kw)

    monkeypatch.setattr(fc.os, "fsync", fsync)
    monkeypatch.setattr(fc.os, "replace", replace)
    monkeypatch.setattr(fc.shutil, "rmtree", rmtree)
    target = Path(fc.install(str(config), str(staging), 1))
    switch = events.index(("replace", str(config / "current")))
    synced_before = {path for kind, path in events[:switch] if kind == "fsync"}
    assert {
        str(target / "centengine.cfg"),
        str(target / "broker" / "central-module.json"),
        str(target / "broker"),
        str(target),
        str(config / "releases"),
    } <= synced_before, events
    assert ("fsync", str(config)) in events[switch:]
    prune = events.index(("rmtree", str(config / "releases" / "20000101T000000Z-1-000001")))
    assert events.index(("fsync", str(config))) < prune
    assert (config / "current" / "centengine.cfg").read_text() == "cfg_dir=/etc/centreon-engine\n"
