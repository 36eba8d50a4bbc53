"""config-push (fetch_config.py --watch-push, root in the poller container) answers the central's
requests without ever following a link the `centreon` account could plant: its verdicts go to a
directory only root writes, through a new file (O_EXCL|O_NOFOLLOW) whose mode is set on the open
file. The account owns the push directory, so anything root writes there is the account's to aim."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT, wait_for

CLIENT = ROOT / "images" / "centreon-engine" / "fetch_config.py"
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="config-push runs as root")


def watch(tmp_path: Path, results: Path) -> subprocess.Popen[str]:
    env = {
        "PATH": os.environ["PATH"],
        "CONFIG_DIR": str(tmp_path / "etc"),
        "PUSH_DIR": str(tmp_path / "push"),
        "PUSH_RESULTS": str(results),
        "SUPERVISOR_CONFIG": str(tmp_path / "no-supervisord.conf"),  # no engine to act on here
        "VERIFY_COMMAND": "",
    }
    return subprocess.Popen([sys.executable, str(CLIENT), "--watch-push"], env=env, stderr=subprocess.PIPE, text=True)


def test_a_link_planted_in_the_push_directory_never_makes_root_write_or_chmod_its_target(tmp_path: Path) -> None:
    victim = tmp_path / "root-only"
    victim.write_text("root's secret\n")
    victim.chmod(0o600)
    inbox, results = tmp_path / "push", tmp_path / "results"
    (inbox / "engine").mkdir(parents=True)
    # every name a verdict ever had in the push directory, aimed at the victim
    for name in (".tmp-result-reload-17-1", ".result-reload-17-1", ".tmp-result-17-1", ".result-17-1"):
        (inbox / name).symlink_to(victim)
    (inbox / ".request-reload-17-1").touch()
    watcher = watch(tmp_path, results)
    try:
        wait_for(
            lambda: (results / "17-1").exists() or victim.read_text() != "root's secret\n",
            20,
            what="config-push's verdict",
        )
    finally:
        watcher.kill()
        watcher.communicate()
    assert victim.read_text() == "root's secret\n"
    assert stat.S_IMODE(victim.stat().st_mode) == 0o600
    verdict = results / "17-1"
    assert verdict.read_text().startswith("OK engine not running"), verdict.read_text()
    st = verdict.lstat()
    assert stat.S_ISREG(st.st_mode) and st.st_uid == 0 and stat.S_IMODE(st.st_mode) == 0o644
    assert not (inbox / ".request-reload-17-1").exists()


@pytest.mark.parametrize("kind", ["link", "group-writable"])
def test_config_push_refuses_a_verdict_directory_others_could_write(tmp_path: Path, kind: str) -> None:
    real = tmp_path / "real"
    real.mkdir()
    results = tmp_path / "results"
    if kind == "link":
        results.symlink_to(real, target_is_directory=True)
    else:
        results.mkdir()
        results.chmod(0o775)
    (tmp_path / "push").mkdir()
    watcher = watch(tmp_path, results)
    _, err = watcher.communicate(timeout=20)
    assert watcher.returncode == 2
    reason = f"not a directory that only this user owns and writes ({results})"
    assert f"cannot answer the central's requests: {reason}" in err
