"""Rollout safety for automatic redeploys: one decision path for the event handler, the
reconciler and the operator's ``pollerfleet redeploy``.

Every request passes, in order: a valid RFC 1123 host name; membership of the fleet inventory;
the local decision lock (handlers started at the same moment decide one after the other); the
circuit breaker (K consecutive failed deploy builds in Jenkins stop automatic redeploys until an
operator resets it); no build already queued or running for that host; the per-host cooldown;
the fleet budget (deploy builds queued + running, counted in Jenkins itself, plus triggers of
the last minute that Jenkins does not show yet); the hourly cap. Each decision is one JSON line
in the audit log. Jenkins stays the coordinator across machines: the deploy job itself is
throttled to the same budget (jenkins/README.md), the local lock only keeps one machine from
over-asking.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Optional, Protocol

from pollerfleet.actions.decide import (
    IMAGE_PARAMETER,
    Action,
    FleetState,
    Request,
    Rules,
    Snapshot,
    carries,
    decide,
    stamp,
)
from pollerfleet.actions.state import AuditLog, StateError, StateStore
from pollerfleet.clients.docker import DockerClient, DockerError, UsageError
from pollerfleet.clients.jenkins import BuildRef, JenkinsClient, JenkinsError
from pollerfleet.core import inventory as inventory_mod
from pollerfleet.core.config import Config, ConfigError
from pollerfleet.core.names import printable, valid_hostname
from pollerfleet.images.desired import DesiredImages, RegistryUnreadable, Target, TargetError, fleet_policy
from pollerfleet.images.freshness import running_image

RESET_ADVICE = "checks it and runs `pollerfleet breaker reset` (the file is kept for inspection)"
NO_PROGRESS_KEPT = 200  # build numbers remembered as no-progress (the breaker reads the last 50 builds)


@dataclass(frozen=True)
class Decision:
    """What was decided for one host, and why; ``action`` is one word for scripts and logs."""

    host: str
    action: Action
    reason: str
    queue_id: Optional[int] = None
    build: Optional[int] = None
    source: str = "handler"
    state: str = ""
    kind: str = "redeploy"  # or rebuild, whose "host" is the engine version
    problem: str = ""  # what went wrong after the action itself (the state not saved): said on its own line
    image: str = ""  # the target: repository:tag@sha256:digest

    @property
    def line(self) -> str:
        ref = f" (queue item {self.queue_id})" if self.queue_id is not None else ""
        ref = f" (build #{self.build})" if self.build is not None else ref
        return f"{self.kind} {printable(self.host, 64) or '(empty)'}: {self.action}{ref}: {self.reason}"


class Actor(Protocol):
    """Who decided: it audits a decision, and keeps what it observed on the way (no-progress builds)."""

    events: list[Decision]

    def log(self, decision: Decision, **extra: Any) -> Optional[str]: ...


def report(
    actor: Actor, decision: Decision, say: Callable[[str], None], warn: Callable[[str], None], **extra: Any
) -> None:
    """The one way a decision reaches the audit log and a person: audit it (with EXTRA), say what
    ACTOR observed on the way, then the decision's line, then warn of what went wrong after the
    action itself (the state not saved, the audit not written)."""
    problem = actor.log(decision, **extra)
    for seen in actor.events:
        say(seen.line)
    actor.events.clear()
    say(decision.line)
    for warning in (decision.problem, problem):
        if warning:
            warn(warning)


class Redeployer:
    """Decides and triggers redeploys under the fleet's rules."""

    def __init__(
        self, cfg: Config, jenkins: Optional[Callable[[], JenkinsClient]] = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.cfg = cfg
        self.rules = cfg.redeploy
        self.job = cfg.jenkins.deploy_job
        self.param = cfg.jenkins.deploy_parameter
        self.store = StateStore(cfg.fleet.state_dir)
        self.audit = AuditLog(cfg.fleet.audit_log)
        self._jenkins_factory = jenkins or (lambda: JenkinsClient(cfg.jenkins))
        self._jenkins: Optional[JenkinsClient] = None
        self.clock = clock
        self.events: list[Decision] = []  # what a decision observed on the way (no-progress builds)

    @property
    def desired(self) -> DesiredImages:
        return DesiredImages(self.cfg, fleet_policy(self.cfg))

    @property
    def jenkins(self) -> JenkinsClient:
        if self._jenkins is None:
            self._jenkins = self._jenkins_factory()
        return self._jenkins

    # -- the one decision path ----------------------------------------------------------------
    def request(
        self,
        host: str,
        *,
        image: str = "",
        target: Optional[Target] = None,
        force: bool = False,
        dry_run: bool = False,
        source: str = "handler",
        state: str = "",
    ) -> Decision:
        """Decide (and trigger) a redeploy of HOST to its desired image, or to IMAGE (a tag or a
        full reference an operator chose, checked against the registry and the host's pin), or to
        TARGET (the desired image a caller already resolved and judged the host against).

        The host's Docker is still read again when a finished deploy must be verified: a deploy
        that ended between the caller's judgement and the build list read here would otherwise
        be counted as no progress."""

        def done(action: Action, reason: str, **kw: Any) -> Decision:
            return Decision(host, action, reason, source=source, state=state, **kw)

        if not valid_hostname(host):
            return done(Action.REFUSED, f"{printable(host)!r} is not a valid host name (RFC 1123)")
        try:
            fleet = self.fleet()
        except (ConfigError, inventory_mod.InventoryError) as exc:
            return done(Action.REFUSED, str(exc))
        if host not in fleet:
            return done(Action.REFUSED, f"{host} is not in the inventory group [{self.cfg.fleet.group}]")
        try:
            if image:
                target = self.desired.chosen(fleet[host], image)
            elif target is None:
                target = self.desired.for_host(fleet[host])
        except RegistryUnreadable as exc:
            return done(Action.ERROR, f"no target image: {exc}")
        except (TargetError, ValueError) as exc:
            return done(Action.REFUSED, f"no target image: {exc}")
        try:
            with self.store.locked(self.rules.lock_timeout):
                return self._decide_locked(fleet[host], target, force, dry_run, done)
        except TimeoutError as exc:
            return done(Action.DEFERRED, str(exc))
        except StateError as exc:
            return done(Action.REFUSED, f"{exc}; automatic redeploys stop until an operator {RESET_ADVICE}")
        except JenkinsError as exc:
            return done(Action.ERROR, str(exc))
        except ConfigError as exc:
            return done(Action.ERROR, str(exc))
        except OSError as exc:
            return done(Action.ERROR, f"cannot use the state directory {self.store.directory}: {exc.strerror or exc}")

    def _decide_locked(
        self,
        poller: inventory_mod.PollerHost,
        target: Target,
        force: bool,
        dry_run: bool,
        done: Callable[..., Decision],
    ) -> Decision:
        """Observe (state, Jenkins, the host's last deploy), decide (decide.py), act, record."""
        now = self.clock()
        st = self.store.load()
        builds: list[BuildRef] = []
        queued: list[BuildRef] = []
        if not st.breaker.get("tripped"):
            # The queue first: an item that leaves it in between shows up in the builds read next.
            queued = self.jenkins.queued(self.job)
            builds = self.jenkins.builds(self.job)
            if self._verify_last_deploy(poller, builds, st, target, done):
                self.store.save(st)
        ruling = decide(
            Snapshot(st, queued, builds),
            Request(poller.name, target.reference, force, dry_run),
            Rules(self.rules, self.job, self.param),
            now,
        )
        way = ruling.on_its_way or BuildRef(self.job, {})
        kw: dict[str, Any] = {"queue_id": way.queue_id, "build": way.number, "image": ruling.image}
        if ruling.trip:
            st.breaker = {"tripped": True, "since": now, "since_text": stamp(now), "reason": ruling.trip}
            self.store.save(st)
        if ruling.params is None:
            return done(ruling.action, ruling.reason, **kw)
        # The intent is recorded before the trigger: a handler killed between the trigger and the
        # next save (the engine's event_handler_timeout) has still used the host's cooldown, a slot
        # of the hourly cap and an in-flight place in the budget.
        entry = st.hosts.setdefault(poller.name, {})
        before = (dict(entry), list(st.triggers))
        entry.update({"last_trigger": now, "queue_id": None, "pending": True, "image": target.reference})
        intent: dict[str, Any] = {"time": now, "host": poller.name, "queue_id": None}
        st.triggers = [*(t for t in st.triggers if now - float(t.get("time", 0)) < 3600), intent]
        problem = self._save(st)
        try:
            queue_id = self.jenkins.trigger(self.job, ruling.params)
        except JenkinsError as exc:
            if not exc.maybe_sent and not problem:  # Jenkins has no build: the intent is withdrawn
                entry.clear()
                entry.update(before[0])
                st.triggers = before[1]
                self._save(st)
            raise
        # From here on the build exists: whatever fails next, the decision stays "triggered".
        entry["queue_id"] = intent["queue_id"] = queue_id
        problem = problem or self._save(st)
        return done(ruling.action, ruling.reason, **{**kw, "queue_id": queue_id}, problem=problem)

    def _save(self, st: FleetState) -> str:
        """Save ST; the sentence that says what is lost when it cannot be saved ('' when saved)."""
        try:
            self.store.save(st)
        except OSError as exc:
            return (
                f"the trigger was not recorded in {self.store.path} ({exc.strerror or exc}): "
                "cooldown and budget do not count it"
            )
        return ""

    def _verify_last_deploy(
        self,
        poller: inventory_mod.PollerHost,
        builds: list[BuildRef],
        st: FleetState,
        target: Target,
        done: Callable[..., Decision],
    ) -> bool:
        """A deploy of POLLER that ended SUCCESS must have left it on the image it was asked for
        (read from the host's Docker, as the check reads it). One that did not is audited as
        ``no-progress`` and counts as a failed build for the breaker. Returns whether ST changed."""
        host = poller.name
        entry = st.hosts.setdefault(host, {})
        verified = int(entry.get("verified_up_to") or 0)
        finished = [
            b
            for b in builds
            if not b.building and b.number is not None and b.number > verified and carries(b, self.param, host)
        ]
        if not finished:
            return False
        last = finished[0]  # newest first
        number = int(last.number or 0)
        if last.result == "SUCCESS":
            wanted = last.params.get(IMAGE_PARAMETER) or target.reference
            try:
                runs = self.running_digests(poller)
            except (DockerError, UsageError):
                return False  # verified later, when the host answers
            if wanted.rpartition("@")[2] not in runs:
                st.no_progress = [*st.no_progress, number][-NO_PROGRESS_KEPT:]
                decision = done(
                    Action.NO_PROGRESS,
                    f"{self.job} #{number} ended SUCCESS but {host} does not run {wanted}; "
                    "counted as a failed deploy for the circuit breaker",
                    build=number,
                    image=wanted,
                )
                self.audit.write(decision)
                self.events.append(decision)
        entry["verified_up_to"] = number
        return True

    def running_digests(self, poller: inventory_mod.PollerHost) -> tuple[str, ...]:
        """The registry digests of the image POLLER's engine container runs."""
        from pollerfleet.clients.docker import host_endpoint
        from pollerfleet.core.inventory import engine_name

        with DockerClient(host_endpoint(poller, self.cfg)) as client:
            return running_image(client, engine_name(poller)).digests

    # -- around the decision ------------------------------------------------------------------
    def fleet(self) -> dict[str, inventory_mod.PollerHost]:
        path = self.cfg.fleet.inventory
        if path is None:
            raise ConfigError("no fleet inventory is configured: set [fleet] inventory")
        return inventory_mod.load(path, self.cfg.fleet.group)

    def record_recovery(self, host: str, source: str = "handler", state: str = "OK") -> Decision:
        """The image service is OK again: close the host's pending redeploy, if it had one."""
        if not valid_hostname(host):
            return Decision(
                host,
                Action.REFUSED,
                f"{printable(host)!r} is not a valid host name (RFC 1123)",
                source=source,
                state=state,
            )
        try:
            with self.store.locked(self.rules.lock_timeout):
                st = self.store.load()
                entry = st.hosts.get(host)
                if not entry or not entry.get("pending"):
                    return Decision(host, Action.IGNORED, "OK, and no redeploy was pending", source=source, state=state)
                entry["pending"] = False
                entry["recovered"] = self.clock()
                self.store.save(st)
        except (TimeoutError, OSError, StateError) as exc:
            return Decision(host, Action.ERROR, str(exc), source=source, state=state)
        return Decision(
            host,
            Action.RECOVERED,
            f"image service OK after the redeploy triggered at {stamp(entry['last_trigger'])}",
            queue_id=entry.get("queue_id"),
            source=source,
            state=state,
        )

    def breaker_status(self) -> tuple[bool, str]:
        try:
            st = self.store.load()
        except StateError as exc:
            return True, f"unusable: {exc}; check it, then run `pollerfleet breaker reset`"
        if st.breaker.get("tripped"):
            return True, f"open since {st.breaker.get('since_text', '?')}: {st.breaker.get('reason', '')}"
        if st.breaker.get("reset_text"):
            return (
                False,
                f"closed (reset at {st.breaker['reset_text']}, failures up to build "
                f"#{st.breaker.get('ignore_up_to', 0)} no longer count)",
            )
        return False, "closed"

    def breaker_reset(self) -> str:
        """Close the breaker; failures already in Jenkins no longer count. An unusable state file is
        set aside (kept for inspection) and replaced by a fresh one."""
        kept = None
        with self.store.locked(self.rules.lock_timeout):
            newest = max((b.number or 0 for b in self.jenkins.builds(self.job)), default=0)
            try:
                st = self.store.load()
            except StateError:
                kept = self.store.set_aside()
                st = FleetState()
            now = self.clock()
            st.breaker = {"tripped": False, "ignore_up_to": newest, "reset": now, "reset_text": stamp(now)}
            self.store.save(st)
        said = f"circuit breaker reset; {self.job} builds up to #{newest} no longer count"
        if kept is not None:
            said += f"; the unusable state file was kept as {kept} (the cooldowns it held are forgotten)"
        return said

    def log(self, decision: Decision, **extra: Any) -> Optional[str]:
        return self.audit.write(decision, **extra)
