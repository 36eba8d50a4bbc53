"""The central's forced command for poller fetch keys: what it passes to rsync, what it refuses.
(The same program against a real sshd and rsync: tests/integration/test_central_fetch.py.)"""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from tests.helpers import ROOT

SERVE = ROOT / "ansible" / "roles" / "centreon_central_fetch" / "files" / "pollerfleet-fetch-serve.py"
_spec = importlib.util.spec_from_file_location("fetch_serve", SERVE)
assert _spec and _spec.loader
serve = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(serve)

GEN = "/usr/share/centreon/filesGeneration"
ASKED = "rsync --server --sender -ltrce.iLsfxCIvu --timeout=120 --safe-links . "


@pytest.mark.parametrize(
    ("command", "path"),
    [
        (ASKED + f"{GEN}/engine/7/", f"{GEN}/engine/7/"),
        (ASKED + f"{GEN}/broker/7", f"{GEN}/broker/7/"),
        (f"rsync --server --sender -lr . {GEN}/engine/7/", f"{GEN}/engine/7/"),
    ],
)
def test_the_pollers_own_directories_are_served_read_only(command: str, path: str) -> None:
    argv = serve.server_argv(command, GEN, "7")
    assert argv[:3] == ["/usr/bin/rsync", "--server", "--sender"]
    assert argv[-3:] == ["--safe-links", ".", path]


@pytest.mark.parametrize(
    ("command", "reason"),
    [
        ("", "this key only fetches poller 7's configuration with rsync: no shell"),
        ("bash -i", "this key only fetches poller 7's configuration with rsync, not 'bash'"),
        ("internal-sftp", "not 'internal-sftp'"),
        (f"rsync --server -re.iLsfxCIvu . {GEN}/engine/7/", "read-only: this key can only download"),
        (f"rsync --server --sender -re.iLsfxCIvu . {GEN}/engine/8/", f"'{GEN}/engine/8/' is not poller 7's"),
        (f"rsync --server --sender -r . {GEN}/engine/7/../8/", "is not poller 7's configuration"),
        (f"rsync --server --sender -r . {GEN}/engine/", "is not poller 7's configuration"),
        (f"rsync --server --sender -r . {GEN}/engine/7/hosts.cfg", "is not poller 7's configuration"),
        (f"rsync --server --sender -r . {GEN}/engine/7/ {GEN}/engine/8/", "one directory at a time"),
        (f"rsync --server --sender -r {GEN}/engine/7/", "not an rsync client's request"),
        (f"rsync --server --sender -rL . {GEN}/engine/7/", "rsync option '-rL' is not allowed"),
        (f"rsync --server --sender -r --remove-source-files . {GEN}/engine/7/", "'--remove-source-files' is not"),
        (f"rsync --server --sender -r --log-file=/tmp/x . {GEN}/engine/7/", "'--log-file=/tmp/x' is not"),
        (f"rsync --server --sender -r --files-from=/etc/shadow . {GEN}/engine/7/", "'--files-from=/etc/shadow'"),
        (f"rsync --server --sender -r --write-batch=/tmp/b . {GEN}/engine/7/", "'--write-batch=/tmp/b' is not"),
        (f"rsync --server --sender -r;id . {GEN}/engine/7/", "rsync option '-r;id' is not allowed"),
    ],
)
def test_anything_else_is_refused_with_the_reason(command: str, reason: str) -> None:
    with pytest.raises(serve.Refused) as refused:
        serve.server_argv(command, GEN, "7")
    assert reason in str(refused.value)


def test_a_refusal_is_one_line_and_exit_1() -> None:
    r = subprocess.run(
        [sys.executable, str(SERVE), GEN, "7"],
        env={"SSH_ORIGINAL_COMMAND": "cat /etc/shadow"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert (r.returncode, r.stdout) == (1, "")
    assert r.stderr == (
        "pollerfleet-fetch-serve: refused: this key only fetches poller 7's configuration with rsync, not 'cat'\n"
    )


@pytest.mark.parametrize("args", [[], [GEN], ["relative/dir", "7"], [GEN, "7;id"]])
def test_a_wrong_key_line_is_said(args: list[str]) -> None:
    r = subprocess.run([sys.executable, str(SERVE), *args], capture_output=True, text=True, check=False)
    assert r.returncode == 1
    assert r.stderr.startswith("pollerfleet-fetch-serve: usage:")
