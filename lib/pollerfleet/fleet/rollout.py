"""The rollout at a glance (``pollerfleet rollout``): which image versions the fleet runs (a bar
per version, the desired one marked), the hosts an operator holds with a pin, the deploys queued
and running in Jenkins, the circuit breaker, and the last decisions of the audit log.

``observe`` asks the world (every host's Docker, the registry, Jenkins, the state and audit
files) and never raises: what cannot be read is shown as such. ``render`` and ``to_json`` are
pure functions of what was observed.
"""

from __future__ import annotations

import json
import os
import textwrap
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from pollerfleet.actions.decide import stamp
from pollerfleet.clients.docker import DockerClient, DockerError, UsageError, host_endpoint
from pollerfleet.clients.jenkins import BuildRef, JenkinsClient, JenkinsError
from pollerfleet.core.config import Config, ConfigError
from pollerfleet.core.inventory import PollerHost, engine_name
from pollerfleet.core.names import printable
from pollerfleet.core.reference import Reference, short_digest
from pollerfleet.images.desired import DesiredImages, Target, TargetError, fleet_policy, pin_of, repository_of
from pollerfleet.images.freshness import running_image
from pollerfleet.images.promotion import is_canary
from pollerfleet.images.promotion_state import PromotionState, PromotionStateError

COLOURS = {"desired": "\033[32m", "other": "\033[33m", "unknown": "\033[35m", "open": "\033[31m"}
RESET = "\033[0m"


@dataclass
class HostImage:
    """What one host runs, and what it should run."""

    host: str
    tag: str = ""  # the running release ('' when it cannot be read)
    digest: str = ""  # its registry digest ('' when it has none)
    error: str = ""  # why the running image cannot be read
    pin: str = ""  # the operator's hold (poller_image_tag)
    desired: str = ""  # repository:tag@digest the host should run ('' when it cannot be named)
    desired_error: str = ""

    @property
    def version(self) -> str:
        if self.error:
            return "unreadable"
        return f"{self.tag}@{short_digest(self.digest)}" if self.digest else f"{self.tag} (no registry digest)"

    @property
    def on_desired(self) -> bool:
        return bool(self.desired and self.digest and self.desired.endswith("@" + self.digest))


@dataclass
class Rollout:
    """One observation of the rollout."""

    hosts: list[HostImage]
    desired: list[str] = field(default_factory=list)  # the newest image of each repository (no pin)
    desired_errors: list[str] = field(default_factory=list)
    job: str = ""
    parameter: str = "HOSTNAME"  # the deploy job's host parameter
    queued: list[BuildRef] = field(default_factory=list)
    running: list[BuildRef] = field(default_factory=list)
    jenkins_error: str = ""
    breaker_open: bool = False
    breaker: str = ""
    decisions: list[dict[str, Any]] = field(default_factory=list)
    audit_error: str = ""
    canaries: list[str] = field(default_factory=list)  # poller_canary hosts ([] : promotion is off)
    promotion: dict[str, dict[str, Any]] = field(default_factory=dict)  # candidate digest -> soak, block
    promotion_error: str = ""

    def versions(self) -> list[tuple[str, list[str], bool]]:
        """(version, hosts on it, is the desired one), the most common first, unreadable last."""
        groups: dict[str, list[str]] = {}
        for h in self.hosts:
            groups.setdefault(h.version, []).append(h.host)
        desired = {short_digest(Reference.parse(d).digest) for d in self.desired}

        def is_desired(version: str) -> bool:
            return "@" in version and version.rsplit("@", 1)[1] in desired

        return sorted(
            ((v, sorted(hs), is_desired(v)) for v, hs in groups.items()),
            key=lambda g: (g[0] == "unreadable", -len(g[1]), g[0]),
        )


def observe(
    cfg: Config, fleet: dict[str, PollerHost], *, timeout: float = 10.0, workers: int = 50, last: int = 5
) -> Rollout:
    """Ask every host, the registry, Jenkins and the local files; never raises."""
    from pollerfleet.actions.redeploy import Redeployer

    hosts = [fleet[name] for name in sorted(fleet)]
    images = DesiredImages(cfg, fleet_policy(cfg), use_cache=True)
    targets: dict[tuple[str, str, str], Any] = {}
    try:
        has_canaries = bool(images.canaries())
    except TargetError:
        has_canaries = False  # the inventory is unreadable: each target says so

    def target(repository: str, pin: str, poller: Any = None) -> Any:
        # canary promotion: a canary and the others may have different desired images
        key = (repository, pin, poller.name if poller is not None and has_canaries else "")
        if key not in targets:
            try:
                targets[key] = images.for_host(poller) if poller is not None else images.target(repository, pin)
            except (TargetError, ConfigError, ValueError) as exc:
                targets[key] = str(exc)
        return targets[key]

    def one(poller: PollerHost) -> HostImage:
        h = HostImage(poller.name, pin=pin_of(poller))
        try:
            with DockerClient(host_endpoint(poller, cfg, timeout)) as client:
                running = running_image(client, engine_name(poller))
            h.tag, h.digest = running.shown, (running.digests[0] if running.digests else "")
        except (DockerError, UsageError) as exc:
            h.error = str(exc)
        return h

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(hosts) or 1))) as pool:
        seen = list(pool.map(one, hosts))
    r = Rollout(seen)
    repositories: list[str] = []
    for poller, h in zip(hosts, seen):
        try:
            repository = repository_of(poller)
        except TargetError as exc:
            h.desired_error = str(exc)
            continue
        if repository not in repositories:
            repositories.append(repository)
        t = target(repository, h.pin, poller)
        if isinstance(t, Target):
            h.desired = t.reference
        else:
            h.desired_error = t
    for repository in repositories:
        t = target(repository, "")
        (r.desired if isinstance(t, Target) else r.desired_errors).append(t.reference if isinstance(t, Target) else t)

    redeployer = Redeployer(cfg)
    r.job, r.parameter = redeployer.job, redeployer.param
    try:
        r.breaker_open, r.breaker = redeployer.breaker_status()
    except OSError as exc:
        r.breaker_open, r.breaker = True, f"unknown: the state cannot be read: {exc.strerror}"
    if not cfg.jenkins.url:
        r.jenkins_error = "no Jenkins is configured ([jenkins] url)"
    else:
        try:
            jenkins = JenkinsClient(cfg.jenkins)
            r.queued = jenkins.queued(r.job)
            r.running = [b for b in jenkins.builds(r.job, limit=20) if b.building]
        except (JenkinsError, ConfigError) as exc:
            r.jenkins_error = str(exc)
    r.decisions, r.audit_error = last_decisions(str(cfg.fleet.audit_log), last)
    r.canaries = sorted(n for n, h in fleet.items() if is_canary(h.vars))
    if r.canaries:
        try:
            r.promotion = PromotionState(cfg.fleet.state_dir).load()
        except (PromotionStateError, OSError) as exc:
            r.promotion_error = str(exc)
    return r


def last_decisions(path: str, count: int) -> tuple[list[dict[str, Any]], str]:
    """The last COUNT records of the audit log (it only grows: read its tail, not all of it)."""
    if count <= 0:
        return [], ""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 256 * 1024))
            lines = f.read().decode("utf-8", "replace").splitlines()[-count:]
    except FileNotFoundError:
        return [], ""
    except OSError as exc:
        return [], f"cannot read the audit log {path}: {exc.strerror}"
    out = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            out.append(record)
    return out, ""


def to_json(r: Rollout) -> dict[str, Any]:
    return {
        "hosts": [{**asdict(h), "version": h.version, "on_desired": h.on_desired} for h in r.hosts],
        "versions": [{"version": v, "hosts": hs, "desired": d} for v, hs, d in r.versions()],
        "desired": r.desired,
        "desired_errors": r.desired_errors,
        "held": {h.host: h.pin for h in r.hosts if h.pin},
        "jenkins": {
            "job": r.job,
            "queued": [asdict(b) for b in r.queued],
            "running": [asdict(b) for b in r.running],
            "error": r.jenkins_error,
        },
        "breaker": {"open": r.breaker_open, "status": r.breaker},
        "decisions": r.decisions,
        "audit_error": r.audit_error,
        "promotion": {"canaries": r.canaries, "candidates": r.promotion, "error": r.promotion_error},
    }


def _short(reference: str) -> str:
    """repository:tag@sha256:digest -> tag@sha256:digest12, as the bars name versions."""
    return Reference.parse(reference).short if "@" in reference else reference


def render(r: Rollout, colour: bool = False, width: int = 100, block: str = "#") -> str:
    """The rollout for a person: bars first, then what holds it back or moves it."""

    def paint(text: str, kind: str) -> str:
        return f"{COLOURS[kind]}{text}{RESET}" if colour else text

    on = sum(h.on_desired for h in r.hosts)
    desired = ", ".join(_short(d) for d in r.desired) or "unknown"
    out = [f"rollout: {on}/{len(r.hosts)} hosts on their desired image (newest under the policy: {desired})"]
    out += [f"  the desired image cannot be named: {printable(e, 300)}" for e in r.desired_errors]
    out += ["", *_bars(r, paint, width, block), *_promotion_lines(r), "", *_held(r), "", *_deploys(r)]
    breaker = paint("open", "open") if r.breaker_open else "closed"
    closed = r.breaker[len("closed") :] if r.breaker.startswith("closed") else r.breaker  # no str.removeprefix on 3.8
    detail = r.breaker if r.breaker_open else closed.strip(" ()")
    out.append(f"circuit breaker: {breaker}" + (f": {printable(detail, 300)}" if detail else ""))
    out += ["", *_decisions(r, width)]
    return "\n".join(out)


def _bars(r: Rollout, paint: Callable[[str, str], str], width: int, block: str) -> list[str]:
    """One bar per version, the desired one marked; the hosts of every other version named."""
    total = len(r.hosts)
    versions = r.versions()
    label_w = max([len("VERSION"), *(len(v) for v, _, _ in versions)]) + 2
    bar_w = max(10, min(40, width - label_w - 20))
    out = ["VERSION".ljust(label_w) + "HOSTS"]
    for version, names, is_desired in versions:
        filled = max(1, round(bar_w * len(names) / total)) if total else 0
        kind = "desired" if is_desired else ("unknown" if version == "unreadable" else "other")
        bar = paint(block * filled, kind) + "." * (bar_w - filled)
        mark = "  <- desired" if is_desired else ""
        out.append(f"{version.ljust(label_w)}{bar} {len(names):>4}{mark}")
        if not is_desired:
            shown = textwrap.shorten(printable(" ".join(names), 10000), max(20, width - label_w), placeholder=" ...")
            out.append(" " * label_w + shown)
    return out


def _held(r: Rollout) -> list[str]:
    held = [h for h in r.hosts if h.pin]
    out = [f"held by a pin (poller_image_tag): {len(held) or 'none'}"]
    for h in held:
        state = "runs it" if h.on_desired else f"runs {h.version}"
        why = f" ({printable(h.desired_error, 200)})" if h.desired_error else ""
        out.append(printable(f"  {h.host}  held at {h.pin}, {state}", 300) + why)
    return out


def _deploys(r: Rollout) -> list[str]:
    if r.jenkins_error:
        return [f"deploys ({r.job}): unknown: {printable(r.jenkins_error, 300)}"]
    out = [f"deploys ({r.job}): {len(r.running)} running, {len(r.queued)} queued"]
    for b in r.running:
        out.append(f"  running  #{b.number}  {_build_line(b, r.parameter)}")
    for b in r.queued:
        why = f" ({printable(b.why, 120)})" if b.why else ""
        out.append(f"  queued   item {b.queue_id}  {_build_line(b, r.parameter)}{why}")
    return out


def _decisions(r: Rollout, width: int) -> list[str]:
    if r.audit_error:
        return [f"last decisions: {printable(r.audit_error, 300)}"]
    out = [f"last decisions: {len(r.decisions) or 'none'}"]
    for d in r.decisions:
        ref = f" (queue item {d['queue_id']})" if d.get("queue_id") is not None else ""
        ref = f" (build #{d['build']})" if d.get("build") is not None else ref
        line = (
            f"{d.get('time', '?')} {d.get('source', '?')}: {d.get('kind', 'redeploy')} {d.get('host', '?')}: "
            f"{d.get('action', '?')}{ref}: {d.get('reason', '')}"
        )
        out += ["  " + part for part in textwrap.wrap(printable(line, 1000), max(40, width - 4))[:3]]
    return out


def _promotion_lines(r: Rollout) -> list[str]:
    """The canary promotion's stage: the canaries, then each candidate soaking, promoted or blocked."""
    if not r.canaries:
        return []
    out = ["", f"canary promotion: canaries {printable(', '.join(r.canaries), 300)}"]
    if r.promotion_error:
        return [*out, f"  unknown: {printable(r.promotion_error, 300)}"]
    newest = sorted(r.promotion.items(), key=lambda kv: -float(kv[1].get("first_seen", 0) or 0))[:5]
    for digest, c in newest:
        name = f"{printable(str(c.get('tag', '?')), 40)}@{digest[7:19]}"
        promoted = bool(c.get("promoted")) and not c.get("blocked")
        if isinstance(c.get("blocked"), dict):
            b = c["blocked"]
            who = f"canary {b.get('host')}" if b.get("host") else f"operator {b.get('by', '?')}"
            line = f"{name}: blocked by {who}: {b.get('reason', '')}"
        elif promoted:
            line = f"{name}: promoted at {stamp(float(c['promoted']))}"
        else:
            soak = c.get("soak") or {}
            starts = [float(v.get("since", 0)) for v in soak.values() if isinstance(v, dict)]
            since = (
                f"soaking since {stamp(min(starts))} on {len(starts)} of {len(r.canaries)} canaries"
                if starts
                else "waiting for the canaries"
            )
            line = f"{name}: {since}"
        out.append("  " + printable(line, 300))
    return out


def _build_line(b: BuildRef, parameter: str) -> str:
    host = b.params.get(parameter, "?")
    image = b.params.get("POLLER_IMAGE", "")
    return printable(f"{host} -> {_short(image)}" if image else host, 200)
