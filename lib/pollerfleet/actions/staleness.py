"""When reconcile calls a host's image stale enough to redeploy: check_poller_image itself, built
for each inventory host as the plugin and the sweep build it, and its state read: CRITICAL is
stale enough."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional

import nagiosplugin

from pollerfleet.checks.image import ImageQuery, ImageResource, image_check
from pollerfleet.clients.docker import DockerClient, DockerError, UsageError, host_endpoint
from pollerfleet.core.config import Config, ConfigError
from pollerfleet.core.inventory import PollerHost, engine_name
from pollerfleet.images.desired import Target


@dataclass(frozen=True)
class Staleness:
    """Whether one host runs a stale image, and the sentence that says so."""

    host: str
    stale: bool
    summary: str
    error: bool = False  # the host could not be evaluated (daemon or registry unreachable)
    target: Optional[Target] = None  # the image it was judged against: the one a redeploy asks for


class StalenessCheck:
    """check_poller_image run for one inventory host at a time, under Q's thresholds (the CRITICAL
    ones decide); the registry cache is shared through its directory."""

    def __init__(self, cfg: Config, q: ImageQuery) -> None:
        self.cfg = cfg
        self.query = q

    def __call__(self, host: PollerHost) -> Staleness:
        q = replace(self.query, name=engine_name(host, self.query.name), poller=host.name)
        try:
            with DockerClient(host_endpoint(host, self.cfg)) as client:
                check = image_check(client, self.cfg, q, poller=host)
                check()
        except (DockerError, UsageError, ConfigError) as exc:
            return Staleness(host.name, False, str(exc), error=True)
        resource = check.resources[0]
        judged = resource.judged if isinstance(resource, ImageResource) else None
        if judged is None:  # the check could not judge: its UNKNOWN reason
            return Staleness(host.name, False, str(check.results.first_significant.hint), error=True)
        f = judged.freshness
        stale = check.state == nagiosplugin.Critical
        summary = f.summary()
        if f.stale and not stale:
            summary += " (within the rollout grace period)"
        return Staleness(host.name, stale, summary, target=judged.target)
