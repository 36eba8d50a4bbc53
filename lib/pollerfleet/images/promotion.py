"""Canary promotion: a new image reaches the canaries first, the rest of the fleet only once it has
run healthy on every canary for ``[rollout] soak_minutes``.

Two pure functions, no I/O (the callers observe, these decide, the callers act and record):

- ``desired_under_promotion``: the promotion part of the desired-image rule. The candidate (the
  newest release under the policy, at its current digest) goes to canaries only; every other host
  keeps the last promoted image; a blocked candidate goes nowhere. A held host (pin) and a fleet
  without canaries are untouched: exactly the rule without promotion.
- ``decide_promotion``: the periodic reconcile's verdict on the candidate: wait, promote or
  block, with the soak bookkeeping (since when each canary has run it healthy) it keeps.

Where the state lives (docs/architecture.md, "Canary promotion"): the promoted image and the blocks
are tags in the registry (the channel tag, ``blocked-<hex>``), read by the central and the Jenkins
agent alike; the soak bookkeeping lives on the central (its state directory).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Optional

from pollerfleet.core.inventory import CANARY_VAR, ansible_true

BLOCK_PREFIX = "blocked-"  # + the candidate's 64 hex digits: a tag naming the blocked manifest itself


def is_canary(host_vars: dict[str, Any]) -> bool:
    """Whether the inventory names the host a canary (``poller_canary``, Ansible truth rules)."""
    return ansible_true(host_vars.get(CANARY_VAR))


def block_tag(digest: str) -> str:
    """The registry tag that marks DIGEST (sha256:<64 hex>) blocked."""
    return BLOCK_PREFIX + digest.split(":", 1)[-1]


def blocked_digests(tags: list[str]) -> frozenset[str]:
    """The digests that the registry's ``blocked-<hex>`` tags mark blocked."""
    out = set()
    for t in tags:
        hexpart = t[len(BLOCK_PREFIX) :] if t.startswith(BLOCK_PREFIX) else ""
        if len(hexpart) == 64 and all(c in "0123456789abcdef" for c in hexpart):
            out.add("sha256:" + hexpart)
    return frozenset(out)


class Stage(str, Enum):
    """Where the candidate is; the value is the word ``rollout`` and the audit log show."""

    NONE = "none"  # no canary in the inventory: promotion is off, today's rule
    PROMOTED = "promoted"  # the candidate is the promoted image: the whole fleet follows it
    SOAKING = "soaking"  # on its way through the canaries
    BLOCKED = "blocked"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Channel:
    """What the registry says about promotion for one repository (read by central and agent)."""

    promoted_digest: str = ""  # '' before the first promotion
    promoted_tag: str = ""  # the release tag the promoted image was built as ('' when unknown)
    blocked: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Choice:
    """The promotion part of one host's desired image: the tag and digest, and why."""

    tag: str
    digest: str
    stage: Stage
    note: str = ""  # for the image check's OK line: "19.04.5-2 on canaries" etc.


def desired_under_promotion(
    candidate_tag: str,
    candidate_digest: str,
    channel: Channel,
    *,
    canary: bool,
    fleet_has_canaries: bool,
    held: bool = False,
) -> Choice:
    """The image a host gets once promotion is applied to the candidate (the policy's newest)."""
    if held or not fleet_has_canaries:
        return Choice(candidate_tag, candidate_digest, Stage.NONE)
    if not channel.promoted_digest or channel.promoted_digest == candidate_digest:
        # nothing promoted yet (the first image a fleet with canaries sees is its baseline) or the
        # candidate is the promoted image
        return Choice(candidate_tag, candidate_digest, Stage.PROMOTED)
    promoted_tag = channel.promoted_tag or candidate_tag
    if candidate_digest in channel.blocked:
        return Choice(promoted_tag, channel.promoted_digest, Stage.BLOCKED, f"{candidate_tag} is blocked")
    if canary:
        return Choice(candidate_tag, candidate_digest, Stage.SOAKING, "canary")
    return Choice(promoted_tag, channel.promoted_digest, Stage.SOAKING, f"{candidate_tag} on the canaries")


# -- the soak ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CanarySeen:
    """One canary as the reconcile observed it."""

    host: str
    digests: tuple[str, ...] = ()  # the registry digests its engine container runs (() unreadable)
    healthy: Optional[bool] = None  # the container's health (monitoring happens); None unknown
    started: float = 0.0  # when the container last started (epoch)
    restarts: int = 0  # Docker's restart count of the container
    no_progress: bool = False  # a deploy of the candidate to it ended SUCCESS without reaching it
    error: str = ""  # why it could not be observed


@dataclass(frozen=True)
class PromotionSnapshot:
    """Everything one promotion decision reads."""

    candidate: str  # the candidate's digest
    candidate_tag: str
    channel: Channel
    canaries: tuple[CanarySeen, ...]
    soak: dict[str, dict[str, Any]] = field(default_factory=dict)  # host -> {"since", "restarts", "started"}


class Verdict(str, Enum):
    WAIT = "wait"
    PROMOTE = "promote"
    BLOCK = "block"
    NOTHING = "nothing"  # promoted already, blocked already, or no canaries

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class PromotionDecision:
    """The verdict, its reason, the canary that blocked (if one did) and the soak bookkeeping to keep."""

    verdict: Verdict
    reason: str
    host: str = ""
    soak: dict[str, dict[str, Any]] = field(default_factory=dict)


def decide_promotion(snap: PromotionSnapshot, soak_minutes: float, now: float) -> PromotionDecision:
    """Wait, promote or block the candidate: promoted once every canary has run it healthy for
    SOAK_MINUTES, without a restart, a rollback or a no-progress deploy; blocked by the first
    canary that shows one of those. Level-triggered: a missed run loses nothing (the soak is
    measured from when each canary was first seen on it)."""
    settled = _settled(snap)
    if settled is not None:
        return settled
    rounds: list[_CanaryRound] = []
    for cn in sorted(snap.canaries, key=lambda x: x.host):
        r = _canary_round(cn, snap.soak.get(cn.host) or {}, snap.candidate, snap.candidate_tag, now)
        if r.block:  # the first canary (by name) that shows a fault blocks the candidate
            return PromotionDecision(Verdict.BLOCK, r.block, host=r.host)
        rounds.append(r)
    soak = {r.host: r.soak for r in rounds if r.soak}
    waiting = [r.wait for r in rounds if r.wait]
    if waiting:
        return PromotionDecision(Verdict.WAIT, "; ".join(waiting), soak=soak)
    return _soak_verdict(snap, min(r.ran for r in rounds), soak_minutes, soak)


def _settled(snap: PromotionSnapshot) -> Optional[PromotionDecision]:
    """The verdicts that need no canary observed: promotion is off, the candidate is promoted or
    blocked already, or it is the first image a fleet with canaries sees (its baseline)."""
    tag, ch = snap.candidate_tag, snap.channel
    if not snap.canaries:
        return PromotionDecision(Verdict.NOTHING, "no canary in the inventory: promotion is off")
    if ch.promoted_digest == snap.candidate:
        return PromotionDecision(Verdict.NOTHING, f"{tag} is the promoted image")
    if snap.candidate in ch.blocked:
        return PromotionDecision(Verdict.NOTHING, f"{tag} is blocked")
    if not ch.promoted_digest:
        return PromotionDecision(Verdict.PROMOTE, f"nothing promoted yet: {tag} is the fleet's first promoted image")
    return None


@dataclass(frozen=True)
class _CanaryRound:
    """What one canary says about the candidate: a reason to block it, a reason to wait for it, or
    how long it has run it healthy; and the soak bookkeeping to keep for it."""

    host: str
    block: str = ""
    wait: str = ""
    soak: dict[str, Any] = field(default_factory=dict)
    ran: float = 0.0  # seconds it has run the candidate healthy


def _canary_round(cn: CanarySeen, before: dict[str, Any], candidate: str, tag: str, now: float) -> _CanaryRound:
    """One canary, judged against its soak bookkeeping BEFORE ({} when its soak has not started)."""
    if cn.no_progress:
        return _CanaryRound(cn.host, block=f"a deploy of {tag} to {cn.host} ended without reaching it")
    if cn.error:  # unobserved: its soak is kept, and it promotes nothing
        return _CanaryRound(cn.host, wait=f"{cn.host} not observed ({cn.error})", soak=dict(before))
    if candidate not in cn.digests:
        if before:
            return _CanaryRound(cn.host, block=f"{cn.host} rolled back from {tag}")
        return _CanaryRound(cn.host, wait=f"{cn.host} not on it yet")
    if cn.healthy is False:
        return _CanaryRound(cn.host, block=f"{cn.host} turned unhealthy on {tag}")
    if _restarted(cn, before):
        return _CanaryRound(cn.host, block=f"{cn.host} restarted on {tag}")
    if cn.healthy is None:
        return _CanaryRound(cn.host, wait=f"{cn.host} not healthy yet", soak=dict(before))
    entry = dict(before) or {"since": now, "restarts": cn.restarts, "started": cn.started}
    return _CanaryRound(cn.host, soak=entry, ran=now - float(entry["since"]))


def _restarted(cn: CanarySeen, before: dict[str, Any]) -> bool:
    """Whether the canary's container restarted since its soak began (a higher restart count, or a
    later start time); never before the soak has begun."""
    if not before:
        return False
    return cn.restarts > int(before.get("restarts", 0)) or cn.started > float(before.get("started", 0))


def _soak_verdict(
    snap: PromotionSnapshot, shortest: float, soak_minutes: float, soak: dict[str, dict[str, Any]]
) -> PromotionDecision:
    """Every canary runs the candidate healthy: promote once the shortest of them has run it for
    SOAK_MINUTES, wait until then."""
    tag, n = snap.candidate_tag, len(snap.canaries)
    if shortest >= soak_minutes * 60:
        return PromotionDecision(
            Verdict.PROMOTE, f"{tag} ran healthy on {n} canaries for {soak_minutes:g} min", soak=soak
        )
    return PromotionDecision(
        Verdict.WAIT, f"{tag} soaking on {n} canaries: {int(shortest // 60)} of {soak_minutes:g} min", soak=soak
    )


def soak_note(candidate_tag: str, canaries: int, since: Optional[float], now: float) -> str:
    """'19.04.5-2 on 2 canaries for 12 min' (the image check's OK line of a non-canary)."""
    dur = f" for {int((now - since) // 60)} min" if since is not None else ""
    return f"{candidate_tag} on {canaries} canar{'y' if canaries == 1 else 'ies'}{dur}"
