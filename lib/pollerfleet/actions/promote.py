"""Canary promotion, acted on: observe the canaries, ask ``decide_promotion`` (images/promotion.py),
then record and ask Jenkins to move the registry's tags.

- ``Promoter.evaluate`` runs in every ``pollerfleet reconcile`` (level-triggered): per repository
  that the fleet's canaries follow, the soak is measured, kept in the central's promotion state,
  and a promotion or a block is audited and handed to the ``promote-centreon-poller`` job.
- ``Promoter.operator`` is ``pollerfleet promote|block|unblock REF``: audited with the login name
  of who asked (SUDO_USER under sudo), then the same job.
- ``write_channel`` is what that job runs on the agent (``pollerfleet channel``), with the agent's
  push rights: a manifest PUT of the same manifest under the channel tag or ``blocked-<hex>``.

Where the state lives and why: docs/architecture.md, "Canary promotion".
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

from pollerfleet.actions.decide import IMAGE_PARAMETER, Action, carries
from pollerfleet.actions.redeploy import Decision
from pollerfleet.actions.state import AuditLog, StateError, StateStore
from pollerfleet.clients.docker import DockerClient, DockerError, UsageError, host_endpoint
from pollerfleet.clients.jenkins import JenkinsClient, JenkinsError
from pollerfleet.clients.registry import RegistryClient, RegistryError
from pollerfleet.core.config import Config, ConfigError
from pollerfleet.core.inventory import PollerHost, engine_name
from pollerfleet.core.reference import Reference
from pollerfleet.core.timefmt import epoch
from pollerfleet.images.desired import (
    DesiredImages,
    Target,
    TargetError,
    fleet_policy,
    parse_reference,
    registry_settings,
    repository_of,
)
from pollerfleet.images.freshness import running_image
from pollerfleet.images.promotion import (
    CanarySeen,
    Channel,
    PromotionSnapshot,
    Verdict,
    block_tag,
    decide_promotion,
    is_canary,
)
from pollerfleet.images.promotion_state import PromotionState, PromotionStateError

ACTIONS = ("promote", "block", "unblock")
ACTION_PARAMETER = "ACTION"


def promote_job(cfg: Config) -> str:
    return cfg.jenkins.promote_job


def who_asked() -> str:
    """The login name of the person at the keyboard: SUDO_USER under sudo, else the login name."""
    sudo = os.environ.get("SUDO_USER", "").strip()
    if sudo:
        return sudo
    try:
        return os.getlogin()
    except OSError:
        import pwd

        try:
            return pwd.getpwuid(os.getuid()).pw_name
        except KeyError:
            return f"uid {os.getuid()}"


@dataclass(frozen=True)
class Round:
    """One repository's candidate and where it stands, as `rollout` shows it."""

    repository: str
    candidate: str  # tag@digest12
    stage: str
    reason: str
    canaries: tuple[str, ...]
    soaking_since: Optional[float] = None
    blocked: Optional[dict[str, Any]] = None


class Promoter:
    """Observes the canaries and acts on the promotion decision."""

    def __init__(
        self,
        cfg: Config,
        jenkins: Optional[Callable[[], JenkinsClient]] = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cfg = cfg
        self.state = PromotionState(cfg.fleet.state_dir)
        self.audit = AuditLog(cfg.fleet.audit_log)
        self.clock = clock
        self._jenkins_factory = jenkins or (lambda: JenkinsClient(cfg.jenkins))

    # -- reconcile ----------------------------------------------------------------------------
    def evaluate(self, fleet: dict[str, PollerHost], dry_run: bool = False) -> list[Decision]:
        """Per repository the canaries follow: wait, promote or block the candidate."""
        canaries = [h for _, h in sorted(fleet.items()) if is_canary(h.vars)]
        if not canaries:
            return []
        desired = DesiredImages(self.cfg, fleet_policy(self.cfg))
        by_repo: dict[str, list[PollerHost]] = {}
        for h in canaries:
            try:
                by_repo.setdefault(repository_of(h), []).append(h)
            except TargetError:
                continue
        out = []
        for repository, hosts in by_repo.items():
            out.append(self._evaluate_one(desired, repository, hosts, dry_run))
        return out

    def _evaluate_one(
        self, desired: DesiredImages, repository: str, canaries: list[PollerHost], dry_run: bool
    ) -> Decision:
        def done(action: Action, reason: str, image: str = "") -> Decision:
            return Decision(repository, action, reason, source="reconcile", kind="promotion", image=image)

        try:
            _, view, _ = desired.view(repository, (self.cfg.rollout.channel_tag,))
        except (RegistryError, ConfigError, TargetError) as exc:
            return done(Action.ERROR, f"cannot read the registry: {exc}")
        if view.newest is None:
            return done(Action.ERROR, f"no release tag of {repository} matches the policy")
        cand = Target(repository, view.newest.tag, view.newest.digest)
        try:
            with StateStore(self.cfg.fleet.state_dir, "promotion").locked(self.cfg.redeploy.lock_timeout):
                return self._decide_locked(cand, view, canaries, dry_run, done)
        except (TimeoutError, StateError, PromotionStateError, OSError) as exc:
            return done(Action.ERROR, str(exc), cand.reference)

    def _decide_locked(
        self, cand: Target, view: Any, canaries: list[PollerHost], dry_run: bool, done: Callable[..., Decision]
    ) -> Decision:
        now = self.clock()
        states = self.state.load()
        entry = states.setdefault(cand.digest, {"first_seen": now, "tag": cand.tag, "repository": cand.repository})
        central_blocked = {d for d, c in states.items() if isinstance(c.get("blocked"), dict)}
        promoted = view.digests.get(self.cfg.rollout.channel_tag) or ""
        channel = Channel(promoted, "", frozenset(view.blocked) | frozenset(central_blocked))
        no_progress = self._no_progress(cand, canaries)
        seen = tuple(self._observe(h, cand, no_progress) for h in canaries)
        snap = PromotionSnapshot(cand.digest, cand.tag, channel, seen, dict(entry.get("soak") or {}))
        d = decide_promotion(snap, self.cfg.rollout.soak_minutes, now)
        if d.verdict == Verdict.NOTHING:
            if cand.digest in channel.blocked and cand.digest not in view.blocked and not dry_run:
                # blocked here, not yet in the registry: ask again (level-triggered)
                return self._ask("block", cand, done, f"{d.reason}; asking again for its registry tag")
            return done(Action.IGNORED, d.reason, cand.reference)
        entry["soak"] = d.soak
        if dry_run and d.verdict == Verdict.WAIT:
            return done(Action.SOAKING, d.reason, cand.reference)
        if dry_run:
            return done(Action.WOULD_TRIGGER, f"{promote_job(self.cfg)} {d.verdict}: {d.reason}", cand.reference)
        if d.verdict == Verdict.BLOCK:
            entry["blocked"] = {"reason": d.reason, "host": d.host, "time": now, "by": "reconcile"}
        elif d.verdict == Verdict.PROMOTE:
            entry["promoted"] = now  # asked of the job; the channel tag is the truth
        self.state.save(states)
        if d.verdict == Verdict.WAIT:
            return done(Action.SOAKING, d.reason, cand.reference)
        action = "promote" if d.verdict == Verdict.PROMOTE else "block"
        return self._ask(action, cand, done, d.reason)

    def _observe(self, host: PollerHost, cand: Target, no_progress: set[str]) -> CanarySeen:
        name = engine_name(host)
        try:
            with DockerClient(host_endpoint(host, self.cfg)) as client:
                running = running_image(client, name)
                info = client.inspect_container(name)
        except (DockerError, UsageError) as exc:
            return CanarySeen(host.name, error=str(exc))
        state = info.get("State") or {}
        health = str((state.get("Health") or {}).get("Status") or "none")
        healthy: Optional[bool] = {"healthy": True, "unhealthy": False}.get(health)
        if health == "none":
            healthy = bool(state.get("Running"))  # no health check: running is all it can say
        if not state.get("Running"):
            healthy = False
        return CanarySeen(
            host.name,
            running.digests,
            healthy,
            epoch(state.get("StartedAt")) or 0.0,
            int(info.get("RestartCount") or 0),
            host.name in no_progress,
        )

    def _no_progress(self, cand: Target, canaries: list[PollerHost]) -> set[str]:
        """Canaries whose deploy of the candidate ended SUCCESS without reaching it (redeploy's
        no-progress record)."""
        try:
            st = StateStore(self.cfg.fleet.state_dir).load()
        except StateError:
            return set()
        if not st.no_progress or not self.cfg.jenkins.url:
            return set()
        try:
            builds = self._jenkins_factory().builds(self.cfg.jenkins.deploy_job)
        except (JenkinsError, ConfigError):
            return set()
        param = self.cfg.jenkins.deploy_parameter
        return {
            h.name
            for b in builds
            if b.number in st.no_progress and b.params.get(IMAGE_PARAMETER, "").endswith("@" + cand.digest)
            for h in canaries
            if carries(b, param, h.name)
        }

    # -- the job that moves the tags ----------------------------------------------------------
    def _ask(self, action: str, target: Target, done: Callable[..., Decision], reason: str) -> Decision:
        params = {ACTION_PARAMETER: action, IMAGE_PARAMETER: target.reference}
        job = self.cfg.jenkins.promote_job
        try:
            queue_id = self._jenkins_factory().trigger(job, params)
        except (JenkinsError, ConfigError) as exc:
            d = done(Action.ERROR, f"{reason}; {job} could not be triggered: {exc}", target.reference)
        else:
            d = done(Action.TRIGGERED, f"{action}: {reason} ({job} {ACTION_PARAMETER}={action})", target.reference)
            d = Decision(d.host, d.action, d.reason, queue_id, source=d.source, kind=d.kind, image=d.image)
        self.audit.write(d)
        return d

    def operator(self, action: str, ref: str, reason: str = "") -> Decision:
        """pollerfleet promote|block|unblock REF: audited with who asked, then the job."""
        who = who_asked()

        def done(act: Action, why: str, image: str = "") -> Decision:
            return Decision(ref, act, why, source=f"operator {who}", kind="promotion", image=image)

        try:
            target = parse_reference(ref)
        except TargetError as exc:
            d = done(Action.REFUSED, str(exc))
            self.audit.write(d, asked_by=who)
            return d
        try:
            with StateStore(self.cfg.fleet.state_dir, "promotion").locked(self.cfg.redeploy.lock_timeout):
                states = self.state.load()
                entry = states.setdefault(
                    target.digest, {"first_seen": self.clock(), "tag": target.tag, "repository": target.repository}
                )
                if action == "block":
                    entry["blocked"] = {"reason": reason, "host": "", "time": self.clock(), "by": who}
                elif action == "unblock":
                    entry.pop("blocked", None)
                    entry.pop("soak", None)  # a new round
                elif action == "promote":
                    entry.pop("blocked", None)
                    entry["promoted"] = self.clock()
                self.state.save(states)
        except (TimeoutError, StateError, PromotionStateError, OSError) as exc:
            d = done(Action.ERROR, str(exc), target.reference)
            self.audit.write(d, asked_by=who)
            return d
        why = f"{action} asked by {who}" + (f": {reason}" if reason else "")
        return self._ask(action, target, done, why)


def write_channel(cfg: Config, action: str, ref: str) -> str:
    """What the promote job runs on the agent: move the registry tag for ACTION. Raises TargetError,
    RegistryError, ConfigError with one-line reasons."""
    if action not in ACTIONS:
        raise TargetError(f"{action!r} is not one of {', '.join(ACTIONS)}")
    target = parse_reference(ref)
    ref_ = Reference.parse(target.repository)
    client = RegistryClient(registry_settings(cfg, ref_.registry), "linux/amd64")
    path = ref_.repository
    if action == "promote":
        client.put_tag(path, target.digest, cfg.rollout.channel_tag)
        return f"{cfg.rollout.channel_tag} -> {target.reference}"
    if action == "block":
        client.put_tag(path, target.digest, block_tag(target.digest))
        return f"{block_tag(target.digest)} -> {target.reference}"
    # unblock: the tag cannot be deleted alone; it is pointed at the promoted image instead
    # (a blocked-<hex> tag blocks only while it names that very manifest)
    promoted = client.digest(path, cfg.rollout.channel_tag)
    if promoted == target.digest:
        raise TargetError("the promoted image cannot be unblocked by re-pointing its block tag at itself")
    client.put_tag(path, promoted, block_tag(target.digest))
    return f"{block_tag(target.digest)} -> the promoted image {promoted[:19]} (unblocked {target.reference})"
