"""When reconcile calls a host's image stale enough to redeploy: the image check's verdict and its
CRITICAL thresholds, for each inventory host, with the same code as the plugin."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import nagiosplugin

from pollerfleet.clients.docker import DockerClient, DockerError, NotFound, UsageError, host_endpoint
from pollerfleet.clients.registry import RegistryError
from pollerfleet.core.config import Config, ConfigError
from pollerfleet.core.inventory import PollerHost, engine_name
from pollerfleet.core.versions import Policy
from pollerfleet.images.desired import DesiredImages, Judged, Target, TargetError
from pollerfleet.images.freshness import Freshness

DAY = 86400


@dataclass(frozen=True)
class Verdict:
    """Whether one host runs a stale image, and the sentence that says so."""

    host: str
    stale: bool
    summary: str
    error: bool = False  # the host could not be evaluated (daemon or registry unreachable)
    target: Optional[Target] = None  # the image it was judged against: the one a redeploy asks for


@dataclass(frozen=True)
class ImageRules:
    """When a stale image is bad enough to redeploy: the check's CRITICAL thresholds."""

    critical_behind: str = ""
    critical_lag_days: str = "1"
    container: str = "centreon-engine"
    policy: Policy = field(default_factory=Policy)

    def critical(self, f: Freshness) -> bool:
        if f.wrong:
            return True  # no grace for an image that is not one of ours
        if not f.stale:
            return False
        if self.critical_behind and not nagiosplugin.Range(self.critical_behind).match(f.behind):
            return True
        return bool(self.critical_lag_days) and not nagiosplugin.Range(self.critical_lag_days).match(f.lag / DAY)


class ImageJudge:
    """Judges each host's image against the image it should run (desired.py), sharing one
    registry cache."""

    def __init__(self, cfg: Config, rules: ImageRules, use_cache: bool = True) -> None:
        self.cfg = cfg
        self.rules = rules
        self.desired = DesiredImages(cfg, rules.policy, use_cache=use_cache)

    def judged(self, host: PollerHost) -> Judged:
        """Raises DockerError, RegistryError, ConfigError, UsageError, TargetError with one-line reasons."""
        name = engine_name(host, self.rules.container)
        with DockerClient(host_endpoint(host, self.cfg)) as client:
            try:
                return self.desired.judge(client, name, host)
            except NotFound:
                raise DockerError(f"container {name} not found") from None

    def __call__(self, host: PollerHost) -> Verdict:
        try:
            judged = self.judged(host)
        except (DockerError, RegistryError, ConfigError, UsageError, TargetError) as exc:
            return Verdict(host.name, False, str(exc), error=True)
        f = judged.freshness
        stale = self.rules.critical(f)
        summary = f.summary()
        if f.stale and not stale:
            summary += " (within the rollout grace period)"
        return Verdict(host.name, stale, summary, target=judged.target)
