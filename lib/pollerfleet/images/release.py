"""The release watch: is there an image for the newest centreon-engine upstream publishes in the
release line the fleet follows (19.04.1 -> 19.04.5)?"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Optional

from pollerfleet.clients import peers
from pollerfleet.clients.registry import RegistryClient, registry_base, settings_for
from pollerfleet.clients.upstream import Package, UpstreamError, UpstreamRepo, compare
from pollerfleet.core.config import Config, ConfigError
from pollerfleet.core.versions import Policy, TagVersion, parse_tag
from pollerfleet.images.freshness import registry_view


@dataclass(frozen=True)
class ReleaseStatus:
    """Upstream against the registry, in one release line."""

    package: str
    upstream: list[Package]  # in the line, newest first, one per version
    newest_image: Optional[TagVersion]
    missing: list[Package]  # upstream versions newer than the newest image, newest first

    @property
    def newest(self) -> Optional[Package]:
        return self.upstream[0] if self.upstream else None

    def hours_without_image(self, now: Optional[float] = None) -> float:
        """How long the newest missing release has been upstream without an image."""
        if not self.missing or self.missing[0].time is None:
            return 0.0
        return max(0.0, ((now or time.time()) - self.missing[0].time) / 3600)

    def summary(self) -> str:
        image = self.newest_image.tag if self.newest_image else "none"
        newest = self.newest
        if newest is None:
            return f"{self.package}: no upstream release in the line"
        if not self.missing:
            return f"{self.package} {newest.version} upstream, image {image} exists"
        since = time.strftime("%Y-%m-%d", time.localtime(self.missing[0].time)) if self.missing[0].time else "?"
        more = f" ({len(self.missing)} releases without an image)" if len(self.missing) > 1 else ""
        return f"{self.package} {self.missing[0].version} upstream since {since}, newest image {image}{more}"


def in_line(version: str, policy: Policy) -> bool:
    tv = parse_tag(version)
    return tv is not None and policy.admits(tv)


def upstream_versions(
    urls: list[str], package: str, policy: Policy, timeout: float, max_bytes: int, allow_http: bool = False
) -> list[Package]:
    """Every version of PACKAGE in the line, over all repositories, newest first, one per version."""
    if not urls:
        raise ConfigError("no upstream repository: give --upstream URL or set [upstream] urls")
    for url in urls:
        if peers.scheme(url) not in ("https", "http"):
            raise ConfigError(f"upstream repository {url} must be an https:// (or http://) URL")
        if peers.scheme(url) == "http" and not allow_http:
            raise ConfigError(
                f"upstream repository {url} is plain HTTP: its package list could be altered on the way; "
                "set [upstream] allow_http = true only if no https mirror exists"
            )
    found: dict[str, Package] = {}
    seen = 0
    for url in urls:
        for p in UpstreamRepo(url, timeout, max_bytes).packages(package):
            seen += 1
            if not in_line(p.version, policy):
                continue
            old = found.get(p.version)
            if old is None or p.newer_than(old) or (compare(p, old) == 0 and (p.time or 0) < (old.time or 0)):
                found[p.version] = p  # the earliest appearance of a version says since when it exists
    if not seen:  # a watch that can never fire: say so, not "no release yet"
        raise UpstreamError(
            f"no {package} package at all in {', '.join(urls)}: Centreon publishes centreon-engine in its "
            "$basearch repository (.../el7/stable/x86_64/), not in noarch/"
        )
    return sorted(found.values(), key=_version, reverse=True)


def _version(p: Package) -> TagVersion:
    tv = parse_tag(p.version)
    if tv is None:  # in_line() lets only parseable versions through
        raise UpstreamError(f"{p.name} version {p.version!r} is not a release version")
    return tv


def release_status(
    cfg: Config,
    urls: list[str],
    package: str,
    policy: Policy,
    registry_url: str = "",
    repository: str = "",
    connect: Optional[Callable[[], RegistryClient]] = None,
) -> ReleaseStatus:
    """Raises UpstreamError, RegistryError, ConfigError."""
    u = cfg.upstream
    up = upstream_versions(urls, package, policy, u.timeout, u.max_download_mb * 1024 * 1024, u.allow_http)
    settings = settings_for(cfg.registry, registry_url) if registry_url else cfg.registry
    base = registry_base(settings)
    repo = repository or settings.repository
    view = registry_view(connect or (lambda: RegistryClient(settings)), base, repo, policy, None)
    newest_image = view.releases[-1] if view.releases else None
    missing = [p for p in up if newest_image is None or _version(p).version > newest_image.version]
    return ReleaseStatus(package, up, newest_image, missing)
