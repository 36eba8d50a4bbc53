"""The fleet as a whole: how to reach each inventory host's Docker daemon, and the image verdict
per host that the reconciler (and the fleet sweep) use, with the same logic as the plugins."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import nagiosplugin

from .config import Config, ConfigError, RegistrySettings
from .docker_api import DockerClient, DockerError, Endpoint, NotFound, UsageError, endpoint_for
from .images import Freshness, freshness, registry_view, running_image
from .inventory import PollerHost
from .reconcile import Verdict
from .regcache import RegistryCache
from .registry import RegistryClient, RegistryError, registry_base, settings_for
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
    """Judges each host's image against the registry, sharing one registry cache."""

    def __init__(self, cfg: Config, rules: ImageRules, use_cache: bool = True) -> None:
        self.cfg = cfg
        self.rules = rules
        s = cfg.registry
        self.cache = RegistryCache(Path(s.cache_dir), s.cache_ttl) if use_cache and s.cache_ttl > 0 else None

    def freshness(self, host: PollerHost) -> Freshness:
        """Raises DockerError, RegistryError, ConfigError, UsageError with one-line reasons."""
        name = engine_name(host, self.rules.container)
        with DockerClient(endpoint(host, self.cfg)) as client:
            try:
                running = running_image(client, name)
            except NotFound:
                raise DockerError(f"container {name} not found") from None
        settings = self.registry_settings(running.reference.registry)
        base = registry_base(settings)
        repository = running.reference.repository  # as check_poller_image does by default

        view = registry_view(
            lambda: RegistryClient(settings, running.platform),
            base,
            repository,
            self.rules.policy,
            self.cache,
            running.reference.tag,
            running.platform,
        )
        if view.newest is None:
            raise RegistryError(f"no release tag of {repository} in {base} matches the policy")
        return freshness(running, view)

    def registry_settings(self, running_registry: str) -> RegistrySettings:
        s = self.cfg.registry
        url = s.url or (f"https://{running_registry}" if running_registry else "")
        if not url:
            raise ConfigError("no registry: set [registry] url (the running image reference names none)")
        return settings_for(s, url)

    def __call__(self, host: PollerHost) -> Verdict:
        try:
            f = self.freshness(host)
        except (DockerError, RegistryError, ConfigError, UsageError) as exc:
            return Verdict(host.name, False, str(exc), error=True)
        stale = self.rules.critical(f)
        summary = f.summary()
        if f.stale and not stale:
            summary += " (within the rollout grace period)"
        return Verdict(host.name, stale, summary)
