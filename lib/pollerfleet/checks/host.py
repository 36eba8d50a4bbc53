"""A Docker host's daemon as the Centreon host check sees it: reachable, how fast, which API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import nagiosplugin
from nagiosplugin.state import Critical, Ok
from packaging.version import InvalidVersion, Version

from pollerfleet.clients.docker import DockerClient, DockerError


@dataclass(frozen=True)
class DaemonFacts:
    """What one round of _ping, version and info says about a daemon."""

    latency_ms: float
    version: str
    api_version: str
    containers_running: int
    containers_total: int


@dataclass(frozen=True)
class HostQuery:
    """What check_docker_host asks: the _ping latency ranges (ms) and the oldest API accepted."""

    warning_latency: str = ""
    critical_latency: str = ""
    min_api_version: str = ""


def add_latency_options(p: Any, range_type: Callable[[str], str], short: bool = True) -> None:
    """--warning-latency and --critical-latency, for check_docker_host (with -w and -c) and for
    pollerfleet status/sweep (the long names only: there -w and -c would be ambiguous)."""
    for level, flag, example in (("warning", "-w", 500), ("critical", "-c", 2000)):
        p.add_argument(
            *((flag,) if short else ()),
            f"--{level}-latency",
            type=range_type,
            default="",
            metavar="RANGE",
            help=f"{level.upper()} when the _ping round trip in ms is outside RANGE (e.g. {example})",
        )


def host_check(client: DockerClient, q: HostQuery) -> nagiosplugin.Check:
    """check_docker_host, for the plugin and the sweep alike."""
    return nagiosplugin.Check(
        DaemonResource(client),
        DaemonContext(q.min_api_version),
        nagiosplugin.ScalarContext(
            "latency", q.warning_latency or None, q.critical_latency or None, fmt_metric="_ping took {value} ms"
        ),
        DaemonSummary(),
    )


class DaemonResource(nagiosplugin.Resource):
    """The Docker daemon of one poller host."""

    name = "DOCKER"

    def __init__(self, client: DockerClient) -> None:
        self.client = client

    def facts(self) -> DaemonFacts:
        try:
            latency = self.client.ping()
            version = self.client.version()
            info = self.client.info()
        except DockerError as exc:
            raise nagiosplugin.CheckError(str(exc)) from None
        try:
            return DaemonFacts(
                latency_ms=round(latency * 1000, 1),
                version=str(version.get("Version", "?")),
                api_version=str(version.get("ApiVersion", "")),
                containers_running=int(info.get("ContainersRunning", 0)),
                containers_total=int(info.get("Containers", 0)),
            )
        except (TypeError, ValueError) as exc:
            raise nagiosplugin.CheckError(f"malformed answer from docker at {self.client.endpoint}: {exc}") from None

    def probe(self) -> list[nagiosplugin.Metric]:
        f = self.facts()
        return [
            nagiosplugin.Metric("daemon", f, context="daemon"),
            nagiosplugin.Metric("latency", f.latency_ms, "ms", min=0, context="latency"),
            nagiosplugin.Metric("containers_running", f.containers_running, min=0, context="default"),
            nagiosplugin.Metric("containers_total", f.containers_total, min=0, context="default"),
        ]


def api_version(text: str) -> Version:
    try:
        return Version(text)
    except InvalidVersion:
        raise ValueError(f"{text!r} is not an API version like 1.41") from None


class DaemonContext(nagiosplugin.Context):
    """OK when the daemon answered with at least the API version the suite needs."""

    def __init__(self, min_api: str = "") -> None:
        super().__init__("daemon")
        self.min_api = api_version(min_api) if min_api else None

    def evaluate(self, metric: nagiosplugin.Metric, resource: Any) -> nagiosplugin.Result:
        f: DaemonFacts = metric.value
        desc = (
            f"Docker {f.version} (API {f.api_version}) answered in {f.latency_ms:g} ms, "
            f"{f.containers_running}/{f.containers_total} containers running"
        )
        if self.min_api is not None:
            try:
                too_old = api_version(f.api_version) < self.min_api
            except ValueError:
                return self.result_cls(Critical, f"daemon reports no usable API version ({f.api_version!r})", metric)
            if too_old:
                return self.result_cls(Critical, f"{desc}; API {f.api_version} is older than {self.min_api}", metric)
        return self.result_cls(Ok, desc, metric)


class DaemonSummary(nagiosplugin.Summary):
    """The daemon line, with a latency problem in front when there is one."""

    def ok(self, results: nagiosplugin.Results) -> str:
        return str(results["daemon"].hint)

    def problem(self, results: nagiosplugin.Results) -> str:
        first = str(results.first_significant)
        try:
            daemon = str(results["daemon"].hint)
        except KeyError:
            return first
        return first if first == daemon else f"{first}; {daemon}"
