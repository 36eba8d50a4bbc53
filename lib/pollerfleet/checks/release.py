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
    return nagiosplugin.Check(
        ReleaseResource(cfg, q),
        ReleaseContext(),
        # the hours pass untouched into a ScalarContext: the state and the perfdata cannot disagree
        nagiosplugin.ScalarContext("hours_without_image", q.warning_age or None, q.critical_age or None),
        ReleaseSummary(),
    )


class ReleaseResource(nagiosplugin.Resource):
    """The newest upstream release of the engine, against the newest image in the registry."""

    def __init__(self, cfg: Config, query: ReleaseQuery) -> None:
        self.cfg, self.query = cfg, query

    @property
    def name(self) -> str:
        return "RELEASE"

    def probe(self) -> list[nagiosplugin.Metric]:
        a = self.query
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
            # 0 while an image exists for the newest release: only a missing image is ever late
            nagiosplugin.Metric("hours_without_image", _tenths(status.hours_without_image()), min=0),
        ]


class ReleaseContext(nagiosplugin.Context):
    """Carries the status's sentence; UNKNOWN when upstream has no release in the line. How late
    a missing image is, the hours_without_image metric's thresholds judge."""

    def __init__(self) -> None:
        super().__init__("release")

    def evaluate(self, metric: nagiosplugin.Metric, resource: Any) -> nagiosplugin.Result:
        status: ReleaseStatus = metric.value
        state = nagiosplugin.Unknown if status.newest is None else nagiosplugin.Ok
        return self.result_cls(state, status.summary(), metric)


class ReleaseSummary(nagiosplugin.Summary):
    """The status's sentence; while a missing image is within the thresholds, how long so far."""

    def ok(self, results: nagiosplugin.Results) -> str:
        status: ReleaseStatus = results["release"].metric.value
        line = str(results["release"].hint)
        return line + (
            f" (image build expected; {status.hours_without_image():.0f} h so far)" if status.missing else ""
        )

    def problem(self, results: nagiosplugin.Results) -> str:
        try:
            return str(results["release"].hint)
        except KeyError:
            return str(results.first_significant)


def _tenths(hours: float) -> float:
    """HOURS to a tenth (6 minutes), printed without a trailing .0."""
    tenths = round(hours, 1)
    return int(tenths) if tenths.is_integer() else tenths
