"""The container-state judgement, pinned down on inspect documents (edge cases only).

The same paths run against the real daemon in tests/integration/test_check_poller_container.py.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from nagiosplugin.state import Critical, Ok, Warn

from pollerfleet.checks.container import ContainerState, assess
from pollerfleet.core.timefmt import human_duration, parse_timestamp

NOW = datetime(2026, 11, 24, 12, 0, 0, tzinfo=timezone.utc)


def inspect(**state: object) -> dict[str, object]:
    base: dict[str, object] = {
        "Status": "running",
        "Running": True,
        "ExitCode": 0,
        "StartedAt": "2026-11-24T11:00:00.123456789Z",
    }
    base.update(state)
    return {
        "State": base,
        "RestartCount": 1,
        "Config": {"Image": "reg.example:5000/centreon/centreon-engine:19.04.5"},
        "Image": "sha256:abc",
        "NetworkSettings": {"Networks": {"poller": {}, "bridge": {}}},
    }


@pytest.mark.parametrize(
    ("state", "expected", "reason"),
    [
        ({}, Ok, "engine running (image 19.04.5, up 59m59s)"),
        ({"Health": {"Status": "healthy"}}, Ok, "engine running (image 19.04.5, up 59m59s)"),
        (
            {"Health": {"Status": "starting"}},
            Warn,
            "engine running (image 19.04.5, up 59m59s), health check still starting",
        ),
        (
            {"Health": {"Status": "unhealthy", "Log": [{"Output": "no\ncommand pipe\n"}]}},
            Critical,
            "engine running but unhealthy: no command pipe",
        ),
        (
            {
                "Health": {
                    "Status": "healthy",
                    "Log": [{"Output": "engine ran checks 3 s ago; broker module: not configured"}],
                }
            },
            Ok,
            "engine running (image 19.04.5, up 59m59s): engine ran checks 3 s ago; broker module: not configured",
        ),
        (
            {"Health": {"Status": "starting", "Log": [{"Output": "engine has run no check since it started 9 s"}]}},
            Warn,
            "engine running (image 19.04.5, up 59m59s), health check still starting: "
            "engine has run no check since it started 9 s",
        ),
        ({"OOMKilled": True}, Warn, "engine running (image 19.04.5, up 59m59s), but was OOM-killed"),
        (
            {"Status": "exited", "Running": False, "ExitCode": 137, "OOMKilled": True},
            Critical,
            "engine exited with code 137, OOM-killed",
        ),
        (
            {"Status": "exited", "Running": False, "ExitCode": 127, "Error": 'exec: "centengine": not found'},
            Critical,
            'engine exited with code 127: exec: "centengine": not found',
        ),
        ({"Status": "dead", "Running": False}, Critical, "engine dead"),
        ({"Status": "paused", "Paused": True}, Critical, "engine paused"),
        ({"Status": "created", "Running": False}, Critical, "engine created but never started"),
        ({"Status": "restarting", "ExitCode": 1}, Critical, "engine restarting (last exit code 1, 1 restarts)"),
    ],
)
def test_assess(state: dict[str, object], expected: object, reason: str) -> None:
    s = ContainerState.from_inspect("engine", inspect(**state))
    assert assess(s, NOW) == (expected, reason)


def test_missing() -> None:
    assert assess(ContainerState.missing("centreon-engine")) == (Critical, "centreon-engine missing")


def test_legacy_daemon_without_status_field() -> None:
    s = ContainerState.from_inspect("e", inspect(Status=None, Running=False, Paused=True))
    assert s.status == "paused"


def test_fields() -> None:
    s = ContainerState.from_inspect("e", inspect())
    assert s.tag == "19.04.5"
    assert s.networks == ("bridge", "poller")
    assert s.restarts == 1
    assert s.uptime(NOW) == pytest.approx(3599.876543)


@pytest.mark.parametrize(
    ("ref", "tag"),
    [
        ("centreon-engine:19.04.5", "19.04.5"),
        ("reg:5000/c/e", "reg:5000/c/e"),
        ("reg:5000/c/e:1@sha256:00", "1"),
        ("", "sha256:abc"),
    ],
)
def test_tag(ref: str, tag: str) -> None:
    assert ContainerState("e", True, image=ref, image_id="sha256:abc").tag == tag


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-24T11:00:00.123456789Z", datetime(2026, 11, 24, 11, 0, 0, 123456, tzinfo=timezone.utc)),
        ("2026-11-24T11:00:00Z", datetime(2026, 11, 24, 11, 0, tzinfo=timezone.utc)),
        ("2026-11-24T12:00:00.5+01:00", datetime(2026, 11, 24, 11, 0, 0, 500000, tzinfo=timezone.utc)),
        ("0001-01-01T00:00:00Z", None),
        ("garbage", None),
        (None, None),
    ],
)
def test_parse_timestamp(text: object, expected: object) -> None:
    assert parse_timestamp(text) == expected


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (59, "59s"), (61, "1m1s"), (3600, "1h"), (3661, "1h1m"), (90061, "1d1h"), (86400 * 40, "40d")],
)
def test_human_duration(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text
