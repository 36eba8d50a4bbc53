"""check_engine_release's Resource, Context and Summary: an image for the newest upstream release?"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import nagiosplugin

from pollerfleet.clients.registry import RegistryError
from pollerfleet.clients.upstream import UpstreamError
from pollerfleet.core.config import Config, ConfigError
from pollerfleet.core.versions import Policy
from pollerfleet.images.release import ReleaseStatus, release_status


@dataclass(frozen=True)
class ReleaseQuery:
    """What check_engine_release asks: which upstream repositories, which package and line, and
    the hours a release may go without an image (ranges)."""

    upstream: tuple[str, ...] = ()  # () = [upstream] urls
    package: str = "centreon-engine"
    release_line: str = ""
    registry: Optional[str] = None
    repository: Optional[str] = None
    warning_age: str = "24"
    critical_age: str = "72"


def release_check(cfg: Config, q: ReleaseQuery) -> nagiosplugin.Check:
    """check_engine_release."""
    return nagiosplugin.Check(ReleaseResource(cfg, q), ReleaseContext(q.warning_age, q.critical_age), ReleaseSummary())


class ReleaseResource(nagiosplugin.Resource):
    """The newest upstream release of the engine, against the newest image in the registry."""

    def __init__(self, cfg: Config, args: ReleaseQuery) -> None:
        self.cfg, self.args = cfg, args

    @property
    def name(self) -> str:
        return "RELEASE"

    def probe(self) -> list[nagiosplugin.Metric]:
        a = self.args
        try:
            status = release_status(
                self.cfg,
                list(a.upstream) or self.cfg.upstream.urls,
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
