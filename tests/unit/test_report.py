"""report(): the one way a decision reaches the audit log and a person, for handlers, reconcile and
the operator's commands alike."""

from __future__ import annotations

from typing import Any, Optional

from pollerfleet.actions.decide import Action
from pollerfleet.actions.redeploy import Decision, report


class Actor:
    def __init__(self, events: list[Decision], problem: str = "") -> None:
        self.events = events
        self.problem = problem
        self.audited: list[tuple[Decision, dict[str, Any]]] = []

    def log(self, decision: Decision, **extra: Any) -> Optional[str]:
        self.audited.append((decision, extra))
        return self.problem


def test_audited_then_said_in_order_with_each_warning() -> None:
    seen = Decision("poller01", Action.NO_PROGRESS, "deploy #7 ended SUCCESS but changed nothing", build=7)
    decision = Decision("poller01", Action.TRIGGERED, "deploy", queue_id=3, problem="state not saved")
    actor = Actor([seen], problem="audit not written")
    said: list[str] = []
    warned: list[str] = []
    report(actor, decision, said.append, warned.append, dry_run=False)
    assert actor.audited == [(decision, {"dry_run": False})]
    assert said == [
        "redeploy poller01: no-progress (build #7): deploy #7 ended SUCCESS but changed nothing",
        "redeploy poller01: triggered (queue item 3): deploy",
    ]
    assert warned == ["state not saved", "audit not written"]
    assert actor.events == []  # said once: the next decision does not repeat them


def test_an_action_is_the_enum_and_reads_as_its_word() -> None:
    d = Decision("poller01", Action.WOULD_TRIGGER, "dry run")
    assert d.action is Action.WOULD_TRIGGER and d.line == "redeploy poller01: would-trigger: dry run"
