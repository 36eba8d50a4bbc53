"""The level-triggered safety net: re-read the fleet and redeploy what is still stale.

Event handlers fire on state changes only; a redeploy that failed (Jenkins down at that moment)
is never retried by the engine. ``pollerfleet reconcile`` evaluates every inventory host's
image freshness (the check_poller_image logic, in-process) and sends each stale host through
the same decision path as the handler: cooldown, budget, breaker and dedupe all apply.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Callable, Optional

from pollerfleet.actions.decide import Action
from pollerfleet.actions.redeploy import Decision, Redeployer
from pollerfleet.actions.redeploy import report as report_decision
from pollerfleet.actions.staleness import Staleness
from pollerfleet.core.exits import Exit
from pollerfleet.core.inventory import PollerHost
from pollerfleet.core.names import valid_hostname


@dataclass
class ReconcileRun:
    """What one reconcile run did: the decisions taken, and the hosts it could not judge."""

    decisions: list[Decision] = field(default_factory=list)
    not_evaluated: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0 all judged and handled; 1 a request failed (error, refused); 3 a host was not judged."""
        if any(d.action in (Action.ERROR, Action.REFUSED) for d in self.decisions):
            return Exit.FAILED
        return Exit.NOT_JUDGED if self.not_evaluated else Exit.DONE


def reconcile(
    redeployer: Redeployer,
    hosts: Iterable[PollerHost],
    staleness_of: Callable[[PollerHost], Staleness],
    dry_run: bool = False,
    report: Optional[Callable[[str], None]] = None,
) -> ReconcileRun:
    """Judge every host; request a redeploy for each stale one."""
    say = report or (lambda _line: None)
    out = ReconcileRun()
    decisions = out.decisions
    for host in hosts:
        if valid_hostname(host.name):
            seen = staleness_of(host)
        else:  # never asked: a name that is no host name goes no further than the request's refusal
            seen = Staleness(host.name, True, "not judged: not a valid host name")
        if seen.error:
            say(f"{host.name}: not evaluated: {seen.summary}")
            out.not_evaluated.append(host.name)
            continue
        if not seen.stale:
            say(f"{host.name}: no redeploy needed: {seen.summary}")

            continue
        # the Target judged stale is the one requested: no second resolution that could differ
        decision = redeployer.request(
            host.name, target=seen.target, dry_run=dry_run, source="reconcile", state=seen.summary
        )
        report_decision(redeployer, decision, say, lambda warning: say(f"warning: {warning}"), dry_run=dry_run)
        decisions.append(decision)
    return out
