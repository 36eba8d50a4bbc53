"""The redeploy decision as a pure function: ``decide(snapshot, request, rules, now) -> Ruling``.

No I/O here: the Redeployer gathers the snapshot (its state file, Jenkins' queue and builds, the
host's verified last deploy), asks this function, then acts on the ruling (trigger, save, audit).
The order of the rules is the order an operator reads them in: the breaker, a deploy already on
its way for the host, the host's cooldown, the fleet budget, the hourly cap; dry run and force
change only what they say.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, Optional

from pollerfleet.clients.jenkins import BuildRef
from pollerfleet.core.config import RedeploySettings
from pollerfleet.core.names import printable, valid_version
from pollerfleet.core.versions import parse_tag

if TYPE_CHECKING:  # a type only: the decision imports no registry or upstream client
    from pollerfleet.images.release import ReleaseStatus

IN_FLIGHT_SECONDS = 120  # a trigger Jenkins does not list yet still counts against the budget
# A build the deploy job's timeout or an operator stopped (ABORTED), or one Jenkins never ran
# (NOT_BUILT), left the host as unknown as a FAILURE did: ten of them in a row must open the breaker.
FAILED_RESULTS = ("FAILURE", "ABORTED", "NOT_BUILT")
IMAGE_PARAMETER = "POLLER_IMAGE"  # the deploy job's parameters (jenkins/deploy-poller.sh)
PREPARE_PARAMETER = "PREPARE_HOST"


class Action(str, Enum):
    """What a decision did; the value is the word scripts and the audit log read."""

    TRIGGERED = "triggered"
    WOULD_TRIGGER = "would-trigger"
    SKIPPED = "skipped"
    DEFERRED = "deferred"
    REFUSED = "refused"
    ERROR = "error"
    RECOVERED = "recovered"
    IGNORED = "ignored"
    NO_PROGRESS = "no-progress"
    SOAKING = "soaking"  # canary promotion: the candidate is on its way through the canaries

    def __str__(self) -> str:
        return self.value


@dataclass
class FleetState:
    """What this machine remembers between decisions (the rest is read from Jenkins)."""

    hosts: dict[str, dict[str, Any]] = field(default_factory=dict)
    triggers: list[dict[str, Any]] = field(default_factory=list)
    breaker: dict[str, Any] = field(default_factory=dict)
    no_progress: list[int] = field(default_factory=list)  # SUCCESS builds that did not reach their image


@dataclass(frozen=True)
class Snapshot:
    """Everything one decision reads, gathered before it is taken."""

    state: FleetState
    queued: list[BuildRef]
    builds: list[BuildRef]  # newest first


@dataclass(frozen=True)
class Request:
    """Redeploy HOST to IMAGE (its target, ``repository:tag@sha256:digest``)."""

    host: str
    image: str
    force: bool = False  # skip the host's cooldown, nothing else
    dry_run: bool = False


@dataclass(frozen=True)
class Rules:
    """The fleet's redeploy rules and the deploy job they apply to."""

    settings: RedeploySettings
    job: str = "deploy-centreon-poller"
    param: str = "HOSTNAME"


@dataclass(frozen=True)
class Ruling:
    """What the pure decision tells its actor to do: an action and its reason; TRIP opens the
    breaker, PARAMS are the trigger's (None: trigger nothing). Not the record of what was done
    (``redeploy.Decision``: who asked, the queue item a trigger got, what failed after): a ruling
    points at no build of its own, only at the build already ON_ITS_WAY that makes a request a skip."""

    action: Action
    reason: str
    on_its_way: Optional[BuildRef] = None
    image: str = ""  # the image the ruling is about: the request's, or the one on its way
    trip: str = ""
    params: Optional[dict[str, str]] = None


def carries(build: BuildRef, param: str, value: str) -> bool:
    """Whether BUILD was asked for VALUE: one of the words of its parameter PARAM (a deploy's host
    parameter may name several hosts, separated by spaces)."""
    return value in build.params.get(param, "").split()


def breaker_reason(builds: list[BuildRef], state: FleetState, rules: Rules) -> str:
    """Why the breaker trips now ('' while it holds): K consecutive failed (FAILURE, ABORTED,
    NOT_BUILT) or no-progress builds; the reason names each one that was no plain FAILURE."""
    ignore_up_to = int(state.breaker.get("ignore_up_to") or 0)
    failed: list[BuildRef] = []
    for b in builds:  # newest first
        if b.building or b.number is None or b.number <= ignore_up_to:
            continue
        if b.result in FAILED_RESULTS or b.number in state.no_progress:
            failed.append(b)
            if len(failed) >= rules.settings.breaker_failures:
                ordered = sorted(failed, key=lambda f: f.number or 0)
                shown = ", ".join(f"#{f.number}" for f in ordered)
                notes = [f"#{f.number} {_how_failed(f, state)}" for f in ordered if f.result != "FAILURE"]
                note = f"; {', '.join(notes)}" if notes else ""
                return f"{len(failed)} consecutive failed {rules.job} builds ({shown}{note})"
            continue
        break
    return ""


def _how_failed(build: BuildRef, state: FleetState) -> str:
    if build.number in state.no_progress and build.result not in FAILED_RESULTS:
        return "ended SUCCESS without reaching the image (no-progress)"
    return f"ended {build.result}"


def decide(snapshot: Snapshot, request: Request, rules: Rules, now: float) -> Ruling:
    """The one redeploy decision, for the handler, reconcile and the operator alike: the first
    rule that holds the request back, in the order an operator reads them, else the trigger."""
    active, in_flight = _on_their_way(snapshot, rules, now)
    held = (
        _breaker(snapshot, request, rules)
        or _already_asked(request.host, active, in_flight, rules)
        or _limits(snapshot.state, request, rules, now, len(active) + len(in_flight))
    )
    if held is not None:
        return held
    host, r = request.host, rules.settings
    shown = f"{rules.job} with {rules.param}={host} {IMAGE_PARAMETER}={request.image}"
    if request.dry_run:
        busy = len(active) + len(in_flight)
        return Ruling(Action.WOULD_TRIGGER, f"{shown} ({busy} of {r.budget} deploy slots in use)", image=request.image)
    params = {rules.param: host, IMAGE_PARAMETER: request.image, PREPARE_PARAMETER: "false"}
    return Ruling(Action.TRIGGERED, shown, image=request.image, params=params)


def _breaker(snapshot: Snapshot, request: Request, rules: Rules) -> Optional[Ruling]:
    """Open, or tripping now."""
    st = snapshot.state
    if st.breaker.get("tripped"):
        return Ruling(
            Action.REFUSED,
            f"circuit breaker open since {st.breaker.get('since_text', '?')} ({st.breaker.get('reason', '')}); "
            "after fixing the cause run `pollerfleet breaker reset`",
            image=request.image,
        )
    tripped = breaker_reason(snapshot.builds, st, rules)
    if tripped:
        return Ruling(
            Action.REFUSED,
            f"circuit breaker tripped: {tripped}; automatic redeploys stop until `pollerfleet breaker reset`",
            image=request.image,
            trip=tripped,
        )
    return None


def _on_their_way(snapshot: Snapshot, rules: Rules, now: float) -> tuple[list[BuildRef], list[dict[str, Any]]]:
    """The deploy builds queued or running (one seen in both counted once), and the triggers of
    the last moments Jenkins does not list yet."""
    building = [b for b in snapshot.builds if b.building]
    started = {b.queue_id for b in building}
    active = [q for q in snapshot.queued if q.queue_id not in started] + building
    seen = {b.queue_id for b in snapshot.queued + snapshot.builds if b.queue_id is not None}
    in_flight = [
        t
        for t in snapshot.state.triggers
        if now - float(t.get("time", 0)) < IN_FLIGHT_SECONDS
        and t.get("queue_id") not in seen
        # an intent whose handler died before it learnt the queue item: the build Jenkins lists
        # for that host is that trigger, counted once
        and not (t.get("queue_id") is None and any(carries(b, rules.param, str(t.get("host"))) for b in active))
    ]
    return active, in_flight


def _already_asked(
    host: str, active: list[BuildRef], in_flight: list[dict[str, Any]], rules: Rules
) -> Optional[Ruling]:
    """A deploy of HOST already on its way: triggered a moment ago, queued or running."""
    mine_in_flight = [t for t in in_flight if t.get("host") == host]
    if mine_in_flight:
        trigger = mine_in_flight[-1]
        unknown = " (the handler that triggered it ended before it could record the queue item)"
        return Ruling(
            Action.SKIPPED,
            f"a deploy for {host} was triggered at {stamp(trigger['time'])} and Jenkins does not list it yet"
            + (unknown if trigger.get("queue_id") is None else ""),
            on_its_way=BuildRef(rules.job, {rules.param: host}, queue_id=trigger.get("queue_id")),
        )
    mine = [b for b in active if carries(b, rules.param, host)]
    if mine:
        b = mine[0]
        return Ruling(
            Action.SKIPPED,
            f"a deploy for {host} is already {'queued' if b.number is None else 'running'}",
            on_its_way=b,
            image=b.params.get(IMAGE_PARAMETER, ""),
        )
    return None


def _limits(st: FleetState, request: Request, rules: Rules, now: float, busy: int) -> Optional[Ruling]:
    """The host's cooldown (unless forced), the fleet budget (BUSY builds on their way), the hourly cap."""
    host, r = request.host, rules.settings
    last = st.hosts.get(host, {}).get("last_trigger")
    cooldown = r.cooldown_minutes * 60
    if not request.force and isinstance(last, (int, float)) and now - last < cooldown:
        return Ruling(
            Action.SKIPPED,
            f"cooldown: last redeploy of {host} triggered at {stamp(last)}, "
            f"next one allowed after {stamp(last + cooldown)}",
        )
    if busy >= r.budget:
        return Ruling(
            Action.DEFERRED, f"fleet budget reached: {busy} deploy builds queued or running (budget {r.budget})"
        )
    hour = [t for t in st.triggers if now - float(t.get("time", 0)) < 3600]
    if len(hour) >= r.hourly_cap:
        return Ruling(
            Action.DEFERRED,
            f"hourly cap reached: {len(hour)} redeploys triggered in the last hour (cap {r.hourly_cap})",
        )
    return None


def stamp(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def decide_rebuild(
    status: ReleaseStatus, version: str, active: list[BuildRef], job: str, param: str, dry_run: bool = False
) -> tuple[str, Ruling]:
    """The rebuild decision, for the handler, reconcile and the operator alike: the version asked
    for (VERSION, else the newest upstream release without an image) and its ruling. ACTIVE are
    the build job's queued and running builds (one build per version)."""
    if not version:
        if not status.missing:
            return "", Ruling(Action.IGNORED, status.summary())
        version = status.missing[0].version
    if not valid_version(version):
        return version, Ruling(Action.REFUSED, f"{printable(version)!r} is not a release version like 19.04.5")
    wanted = parse_tag(version)
    newest = status.newest_image
    if newest is not None and wanted is not None and newest.version >= wanted.version:
        return version, Ruling(Action.SKIPPED, f"an image for {version} (or newer: {newest.tag}) already exists")
    mine = [b for b in active if carries(b, param, version)]
    if mine:
        b = mine[0]
        busy = "queued" if b.number is None else "running"
        return version, Ruling(Action.SKIPPED, f"a build of {version} is already {busy}", on_its_way=b)
    if dry_run:
        return version, Ruling(Action.WOULD_TRIGGER, f"{job} with {param}={version}")
    return version, Ruling(Action.TRIGGERED, f"{job} with {param}={version}", params={param: version})
