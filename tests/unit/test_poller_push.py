"""images/centreon-engine/poller-push.sh, the ForceCommand of the poller's sshd for the central's
`centreon` user: everything but an rsync into engine/ or broker/ and `reload` is refused before
anything runs (the accepted paths run for real in tests/integration/test_twin_poller.py)."""

from __future__ import annotations

import subprocess

import pytest

from tests.helpers import ROOT

PUSH = ROOT / "images" / "centreon-engine" / "poller-push.sh"


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("", "no command (this account takes pushes: rsync, then reload)"),
        ("cat /etc/shadow", "'cat' (this account takes pushes: rsync, then reload)"),
        ("rsync --server --sender -logDtpre.iLsfxC . /etc/", "nothing is read from this poller"),
        ("rsync -logDtpre.iLsfxC . engine/", "rsync without --server"),
        ("rsync --server -logDtpre.iLsfxC . /etc/centreon-engine/", "destination '/etc/centreon-engine/'"),
        ("rsync --server -logDtpre.iLsfxC . ../engine/", "destination '../engine/'"),
        ("rsync --server --log-file=/tmp/x -logDtpre.iLsfxC . engine/", "rsync option '--log-file=/tmp/x'"),
        ("rsync --server -T/tmp . engine/", "rsync option '-T/tmp'"),
        ("rsync --server engine/", "rsync without a destination"),
    ],
)
def test_everything_but_a_push_is_refused(tmp_path, command: str, message: str) -> None:
    r = subprocess.run(
        ["bash", str(PUSH)],
        env={"PATH": "/usr/bin:/bin", "SSH_ORIGINAL_COMMAND": command, "PUSH_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    assert r.returncode == 1
    assert r.stderr.startswith("poller-push: refused: ") and message in r.stderr, r.stderr
    assert list(tmp_path.iterdir()) == []  # no request, no file
