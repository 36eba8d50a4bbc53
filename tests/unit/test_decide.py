"""The redeploy decision (decide.py) as a table: no I/O, every rule on its own."""

from __future__ import annotations

from typing import Any

import pytest

from pollerfleet.actions.decide import Action, FleetState, Request, Rules, Snapshot, decide
from pollerfleet.clients.jenkins import BuildRef
from pollerfleet.core.config import RedeploySettings

NOW = 1_800_000_000.0
JOB = "deploy-centreon-poller"
IMG = "r.example:5000/c/e:19.04.5@sha256:" + "1" * 64
TRIGGER = f"{JOB} with HOSTNAME=poller01 POLLER_IMAGE={IMG}"  # what a trigger says it asked for
RULES = Rules(RedeploySettings(cooldown_minutes=30, budget=2, hourly_cap=3, breaker_failures=2), JOB, "HOSTNAME")


def build(n: int, host: str = "poller09", result: str | None = "SUCCESS", building: bool = False) -> BuildRef:
    return BuildRef(JOB, {"HOSTNAME": host}, queue_id=100 + n, number=n, building=building, result=result)


def queued(q: int, host: str) -> BuildRef:
    return BuildRef(JOB, {"HOSTNAME": host}, queue_id=q)


def state(**kw: Any) -> FleetState:
    return FleetState(**kw)


CASES: list[tuple[str, Snapshot, Request, Action, str]] = [
    ("nothing in the way", Snapshot(state(), [], []), Request("poller01", IMG), Action.TRIGGERED, "POLLER_IMAGE="),
    ("dry run", Snapshot(state(), [], []), Request("poller01", IMG, dry_run=True), Action.WOULD_TRIGGER, "0 of 2"),
    (
        "breaker open",
        Snapshot(state(breaker={"tripped": True, "reason": "x"}), [], []),
        Request("poller01", IMG),
        Action.REFUSED,
        "circuit breaker open",
    ),
    (
        "two failed builds: trip",
        Snapshot(state(), [], [build(2, result="FAILURE"), build(1, result="FAILURE")]),
        Request("poller01", IMG),
        Action.REFUSED,
        "2 consecutive failed deploy-centreon-poller builds (#1, #2)",
    ),
    (
        "a no-progress SUCCESS counts as failed: trip",
        Snapshot(state(no_progress=[2]), [], [build(2), build(1, result="FAILURE")]),
        Request("poller01", IMG),
        Action.REFUSED,
        "#2 ended SUCCESS without reaching the image (no-progress)",
    ),
    (
        "ABORTED (the job's timeout) and NOT_BUILT count as failed: trip",
        Snapshot(state(), [], [build(2, result="ABORTED"), build(1, result="NOT_BUILT")]),
        Request("poller01", IMG),
        Action.REFUSED,
        "2 consecutive failed deploy-centreon-poller builds (#1, #2; #1 ended NOT_BUILT, #2 ended ABORTED)",
    ),
    (
        "an ABORTED build does not hide the failures around it: trip",
        Snapshot(state(), [], [build(3, result="FAILURE"), build(2, result="ABORTED"), build(1)]),
        Request("poller01", IMG),
        Action.REFUSED,
        "(#2, #3; #2 ended ABORTED)",
    ),
    (
        "a good build in between holds it",
        Snapshot(state(), [], [build(3, result="FAILURE"), build(2), build(1, result="FAILURE")]),
        Request("poller01", IMG),
        Action.TRIGGERED,
        TRIGGER,
    ),
    (
        "failures before a reset do not count",
        Snapshot(state(breaker={"ignore_up_to": 2}), [], [build(2, result="FAILURE"), build(1, result="FAILURE")]),
        Request("poller01", IMG),
        Action.TRIGGERED,
        TRIGGER,
    ),
    (
        "already queued for the host",
        Snapshot(state(), [queued(7, "poller01")], []),
        Request("poller01", IMG),
        Action.SKIPPED,
        "already queued",
    ),
    (
        "running for several hosts, this one among them",
        Snapshot(state(), [], [build(4, host="poller02 poller01", result=None, building=True)]),
        Request("poller01", IMG),
        Action.SKIPPED,
        "already running",
    ),
    (
        "triggered a moment ago, not listed yet",
        Snapshot(state(triggers=[{"time": NOW - 5, "host": "poller01", "queue_id": 9}]), [], []),
        Request("poller01", IMG),
        Action.SKIPPED,
        "Jenkins does not list it yet",
    ),
    (
        "an intent whose handler died: in flight until Jenkins lists a build for the host",
        Snapshot(state(triggers=[{"time": NOW - 5, "host": "poller01", "queue_id": None}]), [], []),
        Request("poller01", IMG),
        Action.SKIPPED,
        "ended before it could record the queue item",
    ),
    (
        "an intent Jenkins lists as queued for the host counts once, as that build",
        Snapshot(
            state(triggers=[{"time": NOW - 5, "host": "poller02", "queue_id": None}]),
            [queued(7, "poller02")],
            [build(1, host="poller03", result=None, building=True)],
        ),
        Request("poller01", IMG),
        Action.DEFERRED,
        "fleet budget reached: 2",
    ),
    (
        "cooldown",
        Snapshot(state(hosts={"poller01": {"last_trigger": NOW - 600}}), [], []),
        Request("poller01", IMG),
        Action.SKIPPED,
        "cooldown",
    ),
    (
        "force skips the cooldown",
        Snapshot(state(hosts={"poller01": {"last_trigger": NOW - 600}}), [], []),
        Request("poller01", IMG, force=True),
        Action.TRIGGERED,
        TRIGGER,
    ),
    (
        "force does not skip the budget",
        Snapshot(state(hosts={"poller01": {"last_trigger": NOW - 600}}), [queued(1, "a"), queued(2, "b")], []),
        Request("poller01", IMG, force=True),
        Action.DEFERRED,
        "fleet budget reached: 2",
    ),
    (
        "budget: queued plus running, an item seen in both counted once",
        Snapshot(state(), [queued(101, "poller09")], [build(1, result=None, building=True)]),
        Request("poller01", IMG),
        Action.TRIGGERED,
        TRIGGER,
    ),
    (
        "hourly cap",
        Snapshot(state(triggers=[{"time": NOW - 3000 + i, "host": "x", "queue_id": i} for i in range(3)]), [], []),
        Request("poller01", IMG),
        Action.DEFERRED,
        "hourly cap reached: 3",
    ),
]


@pytest.mark.parametrize(("case", "snapshot", "request_", "action", "reason"), CASES, ids=[c[0] for c in CASES])
def test_decide(case: str, snapshot: Snapshot, request_: Request, action: Action, reason: str) -> None:
    ruling = decide(snapshot, request_, RULES, NOW)
    assert ruling.action is action, ruling.reason
    assert reason in ruling.reason
    if action is Action.TRIGGERED:
        assert ruling.params == {"HOSTNAME": "poller01", "POLLER_IMAGE": IMG, "PREPARE_HOST": "false"}
    else:
        assert ruling.params is None
    assert bool(ruling.trip) == ("trip" in case)


@pytest.mark.parametrize(
    ("snapshot", "queue_id", "number"),
    [
        (Snapshot(state(), [], [build(4, host="poller02 poller01", result=None, building=True)]), 104, 4),
        (Snapshot(state(), [queued(7, "poller01")], []), 7, None),
        (Snapshot(state(triggers=[{"time": NOW - 5, "host": "poller01", "queue_id": 9}]), [], []), 9, None),
        (Snapshot(state(triggers=[{"time": NOW - 5, "host": "poller01", "queue_id": None}]), [], []), None, None),
    ],
    ids=["running", "queued", "triggered, not listed yet", "intent without its queue item"],
)
def test_a_skip_names_the_deploy_on_its_way(snapshot: Snapshot, queue_id: int | None, number: int | None) -> None:
    ruling = decide(snapshot, Request("poller01", IMG), RULES, NOW)
    assert ruling.action is Action.SKIPPED
    assert ruling.on_its_way is not None
    assert (ruling.on_its_way.queue_id, ruling.on_its_way.number) == (queue_id, number)
    assert ruling.on_its_way.params["HOSTNAME"].split()[-1] == "poller01"


@pytest.mark.parametrize(("case", "snapshot", "request_", "action", "reason"), CASES, ids=[c[0] for c in CASES])
def test_only_a_deploy_on_its_way_is_named(
    case: str, snapshot: Snapshot, request_: Request, action: Action, reason: str
) -> None:
    ruling = decide(snapshot, request_, RULES, NOW)
    assert (ruling.on_its_way is not None) == (
        "already" in reason or "does not list it yet" in reason or "record the queue item" in reason
    )
