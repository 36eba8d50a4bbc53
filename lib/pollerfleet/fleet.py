"""The fleet as a whole: how to reach each inventory host's Docker daemon, and the image verdict
per host that the reconciler (and the fleet sweep) use, with the same logic as the plugins."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import nagiosplugin

from .config import Config, ConfigError
from .desired import DesiredImages, TargetError
from .docker_api import DockerClient, DockerError, Endpoint, NotFound, UsageError, endpoint_for
from .images import Freshness
from .inventory import PollerHost
from .reconcile import Verdict
from .registry import RegistryError
from .versions import Policy

DAY = 86400


def engine_name(host: PollerHost, default: str = "centreon-engine") -> str:
    """The engine container's name on HOST: the Ansible role's own variable when the inventory sets it."""
    return str(host.vars.get("centreon_poller_engine_name") or default)


def endpoint(host: PollerHost, cfg: Config, timeout: Optional[float] = None) -> Endpoint:
    """The Docker endpoint of an inventory host: ``poller_docker_url`` if set, else
    tcp://ADDRESS:PORT with the fleet's TLS settings (``poller_docker_tls_dir`` per host)."""
    tls_dir = host.vars.get("poller_docker_tls_dir") or cfg.docker.tls_dir
    return endpoint_for(
        host.address,
        host.docker_url,
        str(tls_dir) if tls_dir else None,
        no_tls=not cfg.docker.tls,
        port=cfg.docker.port,
        timeout=timeout or cfg.docker.timeout,
        api_version=cfg.docker.api_version,
        ssh_config=cfg.docker.ssh_config,
    )


@dataclass(frozen=True)
class ImageRules:
    """When a stale image is bad enough to redeploy: the check's CRITICAL thresholds."""

    critical_behind: str = ""
    critical_lag_days: str = "1"
    container: str = "centreon-engine"
    policy: Policy = field(default_factory=Policy)

    def critical(self, f: Freshness) -> bool:
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

    def freshness(self, host: PollerHost) -> Freshness:
        """Raises DockerError, RegistryError, ConfigError, UsageError, TargetError with one-line reasons."""
        name = engine_name(host, self.rules.container)
        with DockerClient(endpoint(host, self.cfg)) as client:
            try:
                return self.desired.judge(client, name, host)
            except NotFound:
                raise DockerError(f"container {name} not found") from None

    def __call__(self, host: PollerHost) -> Verdict:
        try:
            f = self.freshness(host)
        except (DockerError, RegistryError, ConfigError, UsageError, TargetError) as exc:
            return Verdict(host.name, False, str(exc), error=True)
        stale = self.rules.critical(f)
        summary = f.summary()
        if f.stale and not stale:
            summary += " (within the rollout grace period)"
        return Verdict(host.name, stale, summary)
