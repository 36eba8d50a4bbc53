"""-v/-vv/-vvv: what each level adds, and that a request line never carries a credential."""

from __future__ import annotations

import io

import pytest

from pollerfleet.checks import runtime as plugin
from pollerfleet.core import verbosity


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:s3cret@registry:5000/v2/", "https://registry:5000/v2/"),
        (
            "https://jenkins/job/x/buildWithParameters?HOSTNAME=p1",
            "https://jenkins/job/x/buildWithParameters?HOSTNAME=p1",
        ),
        ("https://auth/token?service=r&account=u&token=abc", "https://auth/token?service=r&account=u&token=%2A%2A%2A"),
        ("https://x/?password=pw&api_key=k", "https://x/?password=%2A%2A%2A&api_key=%2A%2A%2A"),
        ("unix:///run/docker.sock/v1.41/_ping", "unix:///run/docker.sock/v1.41/_ping"),
        ("http://[::1]:2375/_ping", "http://[::1]:2375/_ping"),
    ],
)
def test_request_urls_lose_their_credentials(url: str, shown: str) -> None:
    assert verbosity.redact(url) == shown


@pytest.mark.parametrize(("level", "lines"), [(0, 0), (1, 0), (2, 1), (3, 1)])
def test_requests_are_logged_from_vv_on(level: int, lines: int) -> None:
    out = io.StringIO()
    verbosity.setup(level, out)
    try:
        verbosity.request("POST", "https://u:pw@jenkins/job/deploy/build", 201, 0.0123)
        assert len(out.getvalue().splitlines()) == lines
        if lines:
            assert out.getvalue() == "POST https://jenkins/job/deploy/build -> 201 in 12.3 ms\n"
    finally:
        verbosity.setup(0, out)


@plugin.guarded("TEST")
def _broken() -> None:
    raise KeyError("boom")


@pytest.mark.parametrize(("level", "traceback"), [(0, False), (2, False), (3, True)])
def test_internal_error_is_one_unknown_line_and_its_traceback_at_vvv(
    level: int, traceback: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    verbosity.setup(level, io.StringIO())
    try:
        with pytest.raises(SystemExit) as exc:
            _broken()
    finally:
        verbosity.setup(0, io.StringIO())
    out = capsys.readouterr()
    assert exc.value.code == 3 and out.err == ""
    assert out.out.splitlines()[0] == "TEST UNKNOWN - internal error: KeyError: 'boom'"
    assert ("Traceback (most recent call last)" in out.out) is traceback
    assert ('raise KeyError("boom")' in out.out) is traceback
