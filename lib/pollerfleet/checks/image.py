"""check_poller_image's Resource, Contexts and Summary, and the options that build them."""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from typing import Any, Callable, Optional

import nagiosplugin

from pollerfleet.clients.docker import DockerClient, DockerError, NotFound
from pollerfleet.clients.registry import RegistryError
from pollerfleet.core import inventory
from pollerfleet.core.config import Config, ConfigError
from pollerfleet.core.inventory import InventoryError, PollerHost
from pollerfleet.images.desired import DesiredImages, Judged, TargetError, fleet_policy
from pollerfleet.images.freshness import Freshness

DAY = 86400


def days_range(text: str) -> Optional[str]:
    """A threshold range given in days, as the same range in seconds (perfdata is in seconds)."""
    if not text:
        return None
    r = nagiosplugin.Range(text)
    start = "~" if r.start == float("-inf") else _num(r.start * DAY)
    end = "" if r.end == float("inf") else _num(r.end * DAY)
    return f"{'@' if r.invert else ''}{start}:{end}" if (start != "0" or not end) else f"{'@' if r.invert else ''}{end}"


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def add_options(p: Any, range_type: Callable[[str], str]) -> None:
    p.add_argument(
        "-n",
        "--name",
        default="centreon-engine",
        metavar="CONTAINER",
        help="container whose image is judged (default: %(default)s)",
    )
    p.add_argument(
        "--registry",
        metavar="URL",
        help="registry URL (default: [registry] url, else the registry the repository names, https)",
    )
    p.add_argument(
        "--repository",
        metavar="REPO",
        help="repository in the registry (default: the inventory's poller_image_repository for this host, "
        "else the running image reference's)",
    )
    p.add_argument(
        "--warning-behind",
        type=range_type,
        default="0",
        metavar="RANGE",
        help="WARNING when the count of newer releases is outside RANGE (default: %(default)s)",
    )
    p.add_argument(
        "--critical-behind",
        type=range_type,
        default="",
        metavar="RANGE",
        help="CRITICAL when the count of newer releases is outside RANGE",
    )
    p.add_argument(
        "--warning-lag",
        type=range_type,
        default="",
        metavar="DAYS",
        help="WARNING when a newer image has existed this many days (range) while this host runs an "
        "older one: the rollout grace period",
    )
    p.add_argument(
        "--critical-lag",
        type=range_type,
        default="1",
        metavar="DAYS",
        help="CRITICAL when a newer image has existed longer than this (range, days; default: %(default)s)",
    )
    p.add_argument(
        "--warning-age",
        type=range_type,
        default="",
        metavar="DAYS",
        help="WARNING when the running image was built more than this many days ago (range)",
    )
    p.add_argument(
        "--critical-age",
        type=range_type,
        default="",
        metavar="DAYS",
        help="CRITICAL when the running image was built more than this many days ago (range)",
    )
    p.add_argument(
        "--include", default="", metavar="REGEX", help="only tags matching REGEX count as releases ([registry] include)"
    )
    p.add_argument(
        "--exclude",
        default="",
        metavar="REGEX",
        help="tags matching REGEX never count as releases ([registry] exclude)",
    )
    p.add_argument(
        "--release-line",
        default="",
        metavar="X.Y",
        help="only releases of this line count (e.g. 19.04: never jump to 19.10; default: [registry] release_line)",
    )
    p.add_argument(
        "--cache-ttl",
        type=int,
        default=None,
        metavar="SECONDS",
        help="keep the registry's answer this long (default: [registry] cache_ttl, 300)",
    )
    p.add_argument("--no-cache", action="store_true", help="always ask the registry")
    p.add_argument(
        "--poller",
        metavar="NAME",
        help="the host's name in the fleet inventory ([fleet] inventory), for its repository and an "
        "operator's pin (default: the inventory host whose name or ansible_host is -H)",
    )


def find_poller(cfg: Config, name: str, address: str) -> Optional[PollerHost]:
    """The inventory host this check is about: --poller NAME, else the host whose name or
    ansible_host is the -H address. None without a configured inventory, or for a host the
    inventory does not list (its running repository is then judged, with no pin)."""
    if cfg.fleet.inventory is None:
        return None
    # from the parsed form in the cache directory: a check's inventory work does not grow with the fleet
    return inventory.find(cfg.fleet.inventory, cfg.fleet.group, name, address, cache_dir=cfg.registry.cache_dir)


@dataclass(frozen=True)
class ImageQuery:
    """What check_poller_image asks: the container, where its releases are, the thresholds."""

    name: str = "centreon-engine"
    registry: Optional[str] = None
    repository: Optional[str] = None
    warning_behind: str = "0"
    critical_behind: str = ""
    warning_lag: str = ""  # days, as a range
    critical_lag: str = "1"
    warning_age: str = ""
    critical_age: str = ""
    include: str = ""
    exclude: str = ""
    release_line: str = ""
    cache_ttl: Optional[int] = None
    no_cache: bool = False
    poller: Optional[str] = None  # the inventory host, by name
    host: Optional[str] = None  # -H: the inventory host whose name or ansible_host it is


def image_check(
    client: DockerClient,
    cfg: Config,
    q: ImageQuery,
    lock_for: Optional[Callable[[str], threading.Lock]] = None,
    poller: Optional[PollerHost] = None,
) -> nagiosplugin.Check:
    """check_poller_image, for the plugin and the sweep alike."""
    return nagiosplugin.Check(ImageResource(client, cfg, q, lock_for, poller), *contexts(q), ImageSummary())


class ImageResource(nagiosplugin.Resource):
    """The image a poller's container runs, against the image the host should run (desired.py)."""

    def __init__(
        self,
        client: DockerClient,
        cfg: Config,
        query: ImageQuery,
        lock_for: Optional[Callable[[str], threading.Lock]] = None,
        poller: Optional[PollerHost] = None,
    ) -> None:
        self.client, self.cfg, self.query = client, cfg, query
        self.lock_for = lock_for  # a fleet sweep asks the registry once per repository, not once per host
        self.poller = poller
        self.judged: Optional[Judged] = None

    @property
    def name(self) -> str:
        return "IMAGE"

    def evaluate(self) -> Judged:
        a = self.query
        try:
            poller = self.poller
            if poller is None:
                poller = find_poller(self.cfg, a.poller or "", a.host or "")
            desired = DesiredImages(
                self.cfg,
                fleet_policy(self.cfg, a.include, a.exclude, a.release_line),
                use_cache=not a.no_cache,
                cache_ttl=a.cache_ttl,
            )
            return desired.freshness_of(
                self.client,
                a.name,
                poller,
                repository=a.repository or "",
                registry_url=a.registry,
                lock=self.lock_for,
            )
        except NotFound:
            raise nagiosplugin.CheckError(f"container {a.name} not found") from None
        except (DockerError, RegistryError, TargetError, ConfigError, InventoryError, ValueError) as exc:
            raise nagiosplugin.CheckError(str(exc)) from None

    def probe(self) -> list[nagiosplugin.Metric]:
        self.judged = self.evaluate()
        return metrics(self.judged.freshness)


def metrics(v: Freshness) -> list[nagiosplugin.Metric]:
    """A verdict as the check's metrics: the contexts judge these, and nothing else."""
    found = [
        nagiosplugin.Metric("freshness", v, context="freshness"),
        nagiosplugin.Metric("behind", v.behind, min=0, context="behind"),
        nagiosplugin.Metric("lag", int(v.lag), "s", min=0, context="lag"),
    ]
    if v.age is not None:
        found.append(nagiosplugin.Metric("age", int(v.age), "s", min=0, context="age"))
    return found


class FreshnessContext(nagiosplugin.Context):
    """Carries the verdict's sentence; the state comes from the behind/lag/age thresholds, except
    for a wrong image (another repository, no release tag, a digest the registry does not serve):
    CRITICAL whatever the thresholds say."""

    def __init__(self) -> None:
        super().__init__("freshness")

    def evaluate(self, metric: nagiosplugin.Metric, resource: Any) -> nagiosplugin.Result:
        state = nagiosplugin.Critical if metric.value.wrong else nagiosplugin.Ok
        return self.result_cls(state, metric.value.summary(), metric)


def contexts(query: ImageQuery) -> tuple[nagiosplugin.Context, ...]:
    q = query
    return _contexts(q.warning_behind, q.critical_behind, q.warning_lag, q.critical_lag, q.warning_age, q.critical_age)


@functools.lru_cache(maxsize=16)
def _contexts(*ranges: str) -> tuple[nagiosplugin.Context, ...]:
    """Made once per set of thresholds and shared, as container.threshold_contexts (a sweep's
    queries differ per host in the container's and the poller's name only)."""
    warning_behind, critical_behind, warning_lag, critical_lag, warning_age, critical_age = ranges
    return (
        FreshnessContext(),
        nagiosplugin.ScalarContext("behind", warning_behind or None, critical_behind or None),
        nagiosplugin.ScalarContext("lag", days_range(warning_lag), days_range(critical_lag)),
        nagiosplugin.ScalarContext(
            "age",
            days_range(warning_age),
            days_range(critical_age),
            fmt_metric=lambda m, c: f"image built {m.value // DAY} days ago",
        ),
    )


class ImageSummary(nagiosplugin.Summary):
    """The verdict's sentence, with an age problem added when the image itself is too old."""

    def ok(self, results: nagiosplugin.Results) -> str:
        return str(results["freshness"].hint)

    def problem(self, results: nagiosplugin.Results) -> str:
        try:
            line = str(results["freshness"].hint)
        except KeyError:
            return str(results.first_significant)
        try:
            age = results["age"]
        except KeyError:
            return line
        return line if age.state == nagiosplugin.Ok else f"{line}; {age}"


class _Reached(nagiosplugin.Resource):
    """A verdict already reached, for the check's contexts to judge."""

    def __init__(self, verdict: Freshness) -> None:
        self.verdict = verdict

    def probe(self) -> list[nagiosplugin.Metric]:
        return metrics(self.verdict)


def state_of(verdict: Freshness, q: ImageQuery) -> nagiosplugin.state.ServiceState:
    """The state check_poller_image gives VERDICT under Q's thresholds: its own metrics and contexts."""
    check = nagiosplugin.Check(_Reached(verdict), *contexts(q), ImageSummary())
    check()
    return check.state
