"""The release watch: is there an image for the newest centreon-engine upstream publishes in the
release line the fleet follows (19.04.1 -> 19.04.5)?"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

import nagiosplugin

from .config import Config, ConfigError
from .images import registry_view
from .registry import RegistryClient, RegistryError, registry_base, settings_for
from .upstream import Package, UpstreamError, UpstreamRepo, compare
from .versions import Policy, TagVersion, parse_tag


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
        if url.startswith("http://") and not allow_http:
            raise ConfigError(
                f"upstream repository {url} is plain HTTP: its package list could be altered on the way; "
                "set [upstream] allow_http = true only if no https mirror exists"
            )
    found: dict[str, Package] = {}
    for url in urls:
        for p in UpstreamRepo(url, timeout, max_bytes).packages(package):
            if not in_line(p.version, policy):
                continue
            old = found.get(p.version)
            if old is None or p.newer_than(old) or (compare(p, old) == 0 and (p.time or 0) < (old.time or 0)):
                found[p.version] = p  # the earliest appearance of a version says since when it exists
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


class ReleaseResource(nagiosplugin.Resource):
    """The newest upstream release of the engine, against the newest image in the registry."""

    def __init__(self, cfg: Config, args: Any) -> None:
        self.cfg, self.args = cfg, args

    @property
    def name(self) -> str:
        return "RELEASE"

    def probe(self) -> list[nagiosplugin.Metric]:
        a = self.args
        try:
            status = release_status(
                self.cfg,
                a.upstream or self.cfg.upstream.urls,
                a.package,
                Policy(release_line=a.release_line),
                a.registry or "",
                a.repository or "",
            )
        except (UpstreamError, RegistryError, ConfigError, ValueError) as exc:
            raise nagiosplugin.CheckError(str(exc)) from None
        return [
            nagiosplugin.Metric("release", status, context="release"),
            nagiosplugin.Metric("missing_releases", len(status.missing), min=0, context="default"),
        ]


class ReleaseContext(nagiosplugin.Context):
    """OK while an image exists for the newest release, or while the hours it has had none are
    within the threshold ranges (Monitoring Plugins syntax: "72" alerts above 72 h)."""

    def __init__(self, warning: str, critical: str) -> None:
        super().__init__("release")
        self.warning = nagiosplugin.Range(warning) if warning else None
        self.critical = nagiosplugin.Range(critical) if critical else None

    def evaluate(self, metric: nagiosplugin.Metric, resource: Any) -> nagiosplugin.Result:
        status: ReleaseStatus = metric.value
        hours = status.hours_without_image()
        if status.newest is None:
            return self.result_cls(nagiosplugin.Unknown, status.summary(), metric)
        if status.missing and self.critical is not None and not self.critical.match(hours):
            return self.result_cls(nagiosplugin.Critical, status.summary(), metric)
        if status.missing and self.warning is not None and not self.warning.match(hours):
            return self.result_cls(nagiosplugin.Warn, status.summary(), metric)
        suffix = f" (image build expected; {hours:.0f} h so far)" if status.missing else ""
        return self.result_cls(nagiosplugin.Ok, status.summary() + suffix, metric)


class ReleaseSummary(nagiosplugin.Summary):
    def ok(self, results: nagiosplugin.Results) -> str:
        return str(results["release"].hint)

    def problem(self, results: nagiosplugin.Results) -> str:
        try:
            return str(results["release"].hint)
        except KeyError:
            return str(results.first_significant)
