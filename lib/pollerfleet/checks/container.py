"""A poller's containers as Docker reports them, and the judgement of their state.

``ContainerState`` is what ``docker inspect`` says, reduced to what an operator looks at.
``ContainerResource`` probes it, ``ContainerContext`` judges it; check_poller_container and
check_poller_vmware are built from the same pieces.
"""

from __future__ import annotations

import functools
from datetime import datetime, timezone

import nagiosplugin
from nagiosplugin.state import Critical, Ok, ServiceState, Warn

from pollerfleet.clients.docker import DockerClient, DockerError, NotFound
from pollerfleet.core.reference import Reference, short_digest
from pollerfleet.core.timefmt import human_duration, parse_timestamp

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing at a plugin's start-up
if TYPE_CHECKING:
    from dataclasses import dataclass, field
    from typing import Any, Callable, Optional
else:  # every container check builds these: spared the dataclasses module's start-up cost (see core.record)
    from pollerfleet.core.record import dataclass, field


@dataclass(frozen=True)
class ContainerState:
    """One container as ``GET /containers/NAME/json`` describes it (or its absence)."""

    name: str
    exists: bool
    status: str = "missing"  # created, running, paused, restarting, exited, dead, missing
    exit_code: Optional[int] = None
    error: str = ""
    health: Optional[str] = None  # starting, healthy, unhealthy; None: no HEALTHCHECK
    health_output: str = ""
    oom_killed: bool = False
    restarts: int = 0
    started_at: Optional[datetime] = None
    image: str = ""  # the reference it was started from (Config.Image)
    image_id: str = ""
    networks: tuple[str, ...] = ()
    others: tuple[str, ...] = ()  # when missing: a few containers that do exist there (a typo in -n?)

    @classmethod
    def missing(cls, name: str, others: tuple[str, ...] = ()) -> ContainerState:
        return cls(name=name, exists=False, others=others)

    @classmethod
    def from_inspect(cls, name: str, doc: dict[str, Any]) -> ContainerState:
        state = doc.get("State") or {}
        if not isinstance(state, dict):
            raise DockerError(f"malformed inspect answer for {name}: State is not an object")
        health = state.get("Health") or {}
        log = health.get("Log") or []
        last_output = ""
        if log and isinstance(log[-1], dict):
            last_output = " ".join(str(log[-1].get("Output", "")).split())[:160]
        nets = ((doc.get("NetworkSettings") or {}).get("Networks")) or {}
        code = state.get("ExitCode")
        return cls(
            name=name,
            exists=True,
            status=str(state.get("Status") or _legacy_status(state)),
            exit_code=code if isinstance(code, int) else None,
            error=" ".join(str(state.get("Error") or "").split())[:160],
            health=str(health["Status"]) if health.get("Status") else None,
            health_output=last_output,
            oom_killed=bool(state.get("OOMKilled")),
            restarts=int(doc.get("RestartCount") or 0),
            started_at=parse_timestamp(state.get("StartedAt")),
            image=str((doc.get("Config") or {}).get("Image") or ""),
            image_id=str(doc.get("Image") or ""),
            networks=tuple(sorted(nets)),
        )

    @property
    def tag(self) -> str:
        """The image tag part of the reference (``19.04.5``), or the whole reference."""
        return (
            Reference.parse(self.image, default_tag="").tag
            or self.image.split("@", 1)[0]
            or short_digest(self.image_id)
        )

    def uptime(self, now: Optional[datetime] = None) -> Optional[float]:
        if self.status != "running" or self.started_at is None:
            return None
        now = now or datetime.now(timezone.utc)
        return max(0.0, (now - self.started_at).total_seconds())


def _legacy_status(state: dict[str, Any]) -> str:
    for flag, name in (("Dead", "dead"), ("Paused", "paused"), ("Restarting", "restarting"), ("Running", "running")):
        if state.get(flag):
            return name
    return "exited"


def assess(state: ContainerState, now: Optional[datetime] = None) -> tuple[ServiceState, str]:
    """The state an operator gives this container, and the one-line reason."""
    n = state.name
    if not state.exists:
        if state.others:
            return Critical, f"{n} missing (containers on this host: {', '.join(state.others)})"
        return Critical, f"{n} missing"
    status = state.status
    if status != "running":
        if status == "exited":
            why = f"{n} exited with code {state.exit_code}"
        elif status == "restarting":
            why = f"{n} restarting (last exit code {state.exit_code}, {state.restarts} restarts)"
        elif status == "created":
            why = f"{n} created but never started"
        else:
            why = f"{n} {status}"
        if state.oom_killed:
            why += ", OOM-killed"
        if state.error:
            why += f": {state.error}"
        return Critical, why
    if state.health == "unhealthy":
        detail = f": {state.health_output}" if state.health_output else ""
        return Critical, f"{n} running but unhealthy{detail}"
    up = state.uptime(now)
    desc = f"{n} running (image {state.tag}, up {human_duration(up or 0)})"
    # what the image's health check last said (the poller's: whether the engine runs checks and
    # its broker module holds its connection), so OK says what was checked, not only "running"
    said = f": {state.health_output}" if state.health_output else ""
    if state.health == "starting":
        return Warn, f"{desc}, health check still starting{said}"
    if state.oom_killed:
        return Warn, f"{desc}, but was OOM-killed"
    return Ok, f"{desc}{said}" if state.health == "healthy" else desc


class ContainerResource(nagiosplugin.Resource):
    """A named container on one Docker host: its state, uptime and restart count."""

    def __init__(self, client: DockerClient, name: str, label: str = "") -> None:
        self.client = client
        self.container = name
        self.label = label  # perfdata prefix when a check watches several containers
        self.state: Optional[ContainerState] = None

    @property
    def name(self) -> str:
        return self.container

    def inspect(self) -> ContainerState:
        try:
            return inspect_state(self.client, self.container)
        except DockerError as exc:
            raise nagiosplugin.CheckError(str(exc)) from None

    def probe(self) -> list[nagiosplugin.Metric]:
        self.state = state = self.inspect()
        return [
            nagiosplugin.Metric(f"{self.label}state", state, context="container"),
            *state_metrics(state, self.label),
        ]


def inspect_state(client: DockerClient, name: str, suggest: bool = True) -> ContainerState:
    """The state of container NAME (missing is a state, not an error); SUGGEST: a missing one
    comes with the names of those that exist (one more request). Raises DockerError."""
    try:
        doc = client.inspect_container(name)
    except NotFound:
        return ContainerState.missing(name, nearby_names(client, name) if suggest else ())
    try:
        return ContainerState.from_inspect(name, doc)
    except (TypeError, ValueError, AttributeError) as exc:
        raise DockerError(f"malformed inspect answer for {name}: {exc}") from None


def nearby_names(client: DockerClient, name: str, shown: int = 5) -> tuple[str, ...]:
    """A few containers that exist on the host, the names closest to NAME first (a typo in -n)."""
    try:
        found = sorted(
            str(n).lstrip("/")
            for c in client.containers(all_=True)
            if isinstance(c, dict)
            for n in c.get("Names") or []
        )
    except DockerError:
        return ()
    import difflib  # only for a missing container: a plugin run that finds it is spared the import

    close = difflib.get_close_matches(name, found, n=shown, cutoff=0.6)
    names = close + [n for n in found if n not in close]
    return tuple(names[:shown]) + (("...",) if len(names) > shown else ())


def state_metrics(state: ContainerState, label: str = "") -> list[nagiosplugin.Metric]:
    """Perfdata of a container: uptime while it runs, restarts while it exists."""
    metrics: list[nagiosplugin.Metric] = []
    if not state.exists:
        return metrics
    up = state.uptime()
    if up is not None:
        metrics.append(nagiosplugin.Metric(f"{label}uptime", int(up), "s", min=0, context="uptime"))
    metrics.append(nagiosplugin.Metric(f"{label}restarts", state.restarts, "c", min=0, context="restarts"))
    return metrics


class ContainerContext(nagiosplugin.Context):
    """Judges a ContainerState: running and healthy is OK, anything else says why not."""

    def __init__(self, name: str = "container") -> None:
        super().__init__(name)

    def evaluate(self, metric: nagiosplugin.Metric, resource: Any) -> nagiosplugin.Result:
        state, reason = assess(metric.value)
        return self.result_cls(state, reason, metric)


def _fmt(what: str) -> Callable[[nagiosplugin.Metric, Any], str]:
    def fmt(metric: nagiosplugin.Metric, context: Any) -> str:
        owner = metric.resource.name if metric.resource is not None else ""
        if what == "uptime":
            return f"{owner} up {human_duration(metric.value)}"
        return f"{owner} restarted {metric.value} times"

    return fmt


#: The metrics a container is judged on besides its state, each with a --warning-METRIC and a
#: --critical-METRIC option (add_threshold_options).
METRICS = ("uptime", "restarts")


@dataclass(frozen=True)
class Thresholds:
    """A container's thresholds, per metric (warning, critical): Monitoring Plugins ranges, None = none."""

    uptime: tuple[Optional[str], Optional[str]] = (None, None)
    restarts: tuple[Optional[str], Optional[str]] = (None, None)

    @classmethod
    def from_options(cls, args: Any) -> Thresholds:
        """From the options of add_threshold_options (an absent or empty option: no threshold)."""
        given = [(getattr(args, f"warning_{m}", ""), getattr(args, f"critical_{m}", "")) for m in METRICS]
        return cls(*((warning or None, critical or None) for warning, critical in given))


@dataclass(frozen=True)
class ContainerQuery:
    """What check_poller_container asks: which containers, against which thresholds."""

    names: tuple[str, ...] = ("centreon-engine",)
    thresholds: Thresholds = field(default_factory=Thresholds)


def container_check(client: DockerClient, q: ContainerQuery) -> nagiosplugin.Check:
    """check_poller_container, for the plugin and the sweep alike."""
    prefix = len(q.names) > 1
    return nagiosplugin.Check(
        *[ContainerResource(client, n, f"{n}_" if prefix else "") for n in q.names],
        ContainerContext(),
        *threshold_contexts(q.thresholds),
        ContainerSummary(),
    )


@functools.lru_cache(maxsize=16)
def threshold_contexts(query: Thresholds) -> tuple[nagiosplugin.Context, ...]:
    """The uptime and restart contexts from --warning/critical-uptime/-restarts. Made once per
    thresholds and shared (a context holds only its name, ranges and format, and a check only
    reads it): a sweep's hosts would otherwise parse the same four ranges for each of their two
    containers."""
    return tuple(nagiosplugin.ScalarContext(m, *getattr(query, m), fmt_metric=_fmt(m)) for m in METRICS)


def add_threshold_options(parser: Any, range_type: Callable[[str], str]) -> None:
    parser.add_argument(
        "--warning-restarts",
        type=range_type,
        default="",
        metavar="RANGE",
        help="WARNING when the restart count is outside RANGE (e.g. 3)",
    )
    parser.add_argument(
        "--critical-restarts",
        type=range_type,
        default="",
        metavar="RANGE",
        help="CRITICAL when the restart count is outside RANGE (e.g. 10)",
    )
    parser.add_argument(
        "--warning-uptime",
        type=range_type,
        default="",
        metavar="RANGE",
        help="WARNING when uptime in seconds is outside RANGE (e.g. 300: = restarted in the last 5 minutes)",
    )
    parser.add_argument(
        "--critical-uptime",
        type=range_type,
        default="",
        metavar="RANGE",
        help="CRITICAL when uptime in seconds is outside RANGE",
    )


class ContainerSummary(nagiosplugin.Summary):
    """Status line: every container's state, problems first."""

    def ok(self, results: nagiosplugin.Results) -> str:
        return "; ".join(r.hint for r in results if r.metric is not None and r.metric.context == "container")

    def problem(self, results: nagiosplugin.Results) -> str:
        worst = [str(r) for r in results.most_significant]
        rest = [r.hint for r in results if r.state == Ok and r.metric is not None and r.metric.context == "container"]
        return "; ".join(worst + [h for h in rest if h not in worst])
