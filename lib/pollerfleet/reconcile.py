"""The level-triggered safety net: re-read the fleet and redeploy what is still stale.

Event handlers fire on state changes only; a redeploy that failed (Jenkins down at that moment)
is never retried by the engine. ``pollerfleet reconcile`` evaluates every inventory host's
image freshness (the check_poller_image logic, in-process) and sends each stale host through
the same decision path as the handler: cooldown, budget, breaker and dedupe all apply.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Callable, Optional

from .inventory import PollerHost
from .redeploy import Decision, Redeployer


@dataclass(frozen=True)
class Verdict:
    """Whether one host runs a stale image, and the sentence that says so."""

    host: str
    stale: bool
    summary: str
    error: bool = False  # the host could not be evaluated (daemon or registry unreachable)


def reconcile(
    redeployer: Redeployer,
    hosts: Iterable[PollerHost],
    judge: Callable[[PollerHost], Verdict],
    dry_run: bool = False,
    report: Optional[Callable[[str], None]] = None,
) -> list[Decision]:
    """Judge every host; request a redeploy for each stale one. Returns the decisions taken."""
    say = report or (lambda _line: None)
    decisions = []
    for host in hosts:
        verdict = judge(host)
        if verdict.error:
            say(f"{host.name}: not evaluated: {verdict.summary}")
            continue
        if not verdict.stale:
            say(f"{host.name}: no redeploy needed: {verdict.summary}")

            continue
        decision = redeployer.request(host.name, dry_run=dry_run, source="reconcile", state=verdict.summary)
        problem = redeployer.log(decision, dry_run=dry_run)
        say(decision.line)
        if problem:
            say(f"warning: {problem}")
        decisions.append(decision)
    return decisions
