"""The rollout view's pure side: grouping and rendering what was observed (the integration test
observes a real fleet; these are the states a healthy test fleet does not show)."""

from __future__ import annotations

from pollerfleet.fleet.rollout import HostImage, Rollout, render, to_json

D5 = "sha256:" + "5" * 64
D1 = "sha256:" + "1" * 64


def test_breaker_open_jenkins_down_and_an_empty_desired() -> None:
    r = Rollout(
        [HostImage("p1", "19.04.1", D1, desired=f"reg/r:19.04.5@{D5}"), HostImage("p2", error="refused")],
        desired_errors=["cannot read the registry for reg/r: connection refused"],
        job="deploy-centreon-poller",
        jenkins_error="cannot connect to Jenkins at https://j/",
        breaker_open=True,
        breaker="open since 2026-11-27 10:00:00: 3 consecutive failed deploy-centreon-poller builds (#4, #5, #6)",
        audit_error="cannot read the audit log /x: Permission denied",
    )
    text = render(r, width=80).splitlines()
    assert text[0] == "rollout: 0/2 hosts on their desired image (newest under the policy: unknown)"
    assert "  the desired image cannot be named: cannot read the registry for reg/r: connection refused" in text
    assert "deploys (deploy-centreon-poller): unknown: cannot connect to Jenkins at https://j/" in text
    assert "circuit breaker: open: open since 2026-11-27 10:00:00: 3 consecutive failed" in " ".join(text)
    assert "last decisions: cannot read the audit log /x: Permission denied" in text
    doc = to_json(r)
    assert doc["breaker"]["open"] and [v["version"] for v in doc["versions"]] == [
        "19.04.1@sha256:111111111111",
        "unreadable",
    ]


def test_an_empty_fleet_renders() -> None:
    assert render(Rollout([]), width=80).splitlines()[0].startswith("rollout: 0/0 hosts")


def test_control_characters_from_the_audit_log_are_not_replayed() -> None:
    record = {"time": "t", "source": "handler", "host": "p\x1b[2J", "action": "refused", "reason": "x"}
    r = Rollout([HostImage("h\x1b[2J", error="x")], decisions=[record])
    assert "\x1b" not in render(r)
