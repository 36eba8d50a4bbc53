"""The whole fleet from one process: every inventory host evaluated concurrently with exactly the
plugins' own Resources, Contexts and Summaries (in-process, no subprocess per check), one
registry cache for all, and the results for people (a table), machines (JSON) or the monitoring
engine (passive check results through its external command file).

One slow or hung host never stalls the rest: a bounded thread pool, a per-host timeout on every
Docker call, and a host whose daemon does not answer is not asked again for its services."""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Optional

import nagiosplugin
from nagiosplugin.output import Output

from pollerfleet.checks import image
from pollerfleet.checks.container import ContainerQuery, Thresholds, container_check
from pollerfleet.checks.host import HostQuery, host_check
from pollerfleet.checks.runtime import query_from
from pollerfleet.checks.vmware import VmwareQuery, vmware_check
from pollerfleet.clients.docker import DockerClient, UsageError, host_endpoint
from pollerfleet.core.config import Config, ConfigError
from pollerfleet.core.exits import State
from pollerfleet.core.inventory import PollerHost, engine_name
from pollerfleet.core.names import printable, valid_hostname

SERVICES = ("container", "image", "vmware")


@dataclass(frozen=True)
class SweepQuery:
    """What a sweep asks of every host: the plugins' own queries, and how long and how wide."""

    host: HostQuery = field(default_factory=HostQuery)
    thresholds: Thresholds = field(default_factory=Thresholds)
    image: image.ImageQuery = field(default_factory=image.ImageQuery)
    name: str = "centreon-engine"  # the engine container, where the inventory names none
    vmware_name: str = "centreon-vmware"
    vmware_config_path: str = ""
    timeout: float = 10.0  # each Docker call
    host_timeout: Optional[float] = None  # one host in all; None: 3 x timeout
    workers: int = 50

    @classmethod
    def from_options(cls, args: Any) -> SweepQuery:
        """From ``pollerfleet status``/``sweep``'s parsed options (the plugins' option names)."""
        return query_from(
            cls,
            args,
            host=query_from(HostQuery, args),
            thresholds=Thresholds.from_options(args),
            image=query_from(image.ImageQuery, args, host=None),
        )

    @property
    def host_deadline(self) -> float:
        """How long one host may take in all (every call, the registry too): --host-timeout, else 3 x -t."""
        return float(self.host_timeout or 3 * self.timeout)


@dataclass
class CheckResult:
    """One check's result: the exit code and the plugin's status line (with perfdata)."""

    code: int
    line: str

    @property
    def state(self) -> str:
        return State(self.code).name


@dataclass
class HostResult:
    host: str
    daemon: CheckResult
    services: dict[str, CheckResult] = field(default_factory=dict)
    seconds: float = 0.0

    @classmethod
    def unknown(cls, host: str, why: str, seconds: float = 0.0) -> HostResult:
        """HOST's daemon and every service UNKNOWN for one reason: nothing more was asked."""
        services = {s: CheckResult(State.UNKNOWN, f"{s.upper()} UNKNOWN - {why}") for s in SERVICES}
        return cls(host, CheckResult(State.UNKNOWN, f"DOCKER UNKNOWN - {why}"), services, seconds)

    @property
    def worst(self) -> State:
        return State.worst([self.daemon.code, *(o.code for o in self.services.values())])


#: One for every check: a handler per check took the logging module's lock four times per host.
_NO_LOG = logging.NullHandler()


def evaluate(check: nagiosplugin.Check, label: str) -> CheckResult:
    """Evaluate a Check in-process and format its line with nagiosplugin's own output code, as
    the plugin prints it: the same status line, the same perfdata, the same screening of '|'."""
    check.name = label
    try:
        check()
    except ConfigError as exc:  # as the plugin says it (plugin.guarded)
        return CheckResult(State.UNKNOWN, f"{label} UNKNOWN - {exc}")
    out = Output(_NO_LOG)  # verbose 0: the status line and perfdata only, the log channel is never read
    out.add(check)
    return CheckResult(check.exitcode, out.status)


class Sweeper:
    """Evaluates hosts; thread-safe; shares the registry cache and one lock per repository."""

    def __init__(self, cfg: Config, query: SweepQuery) -> None:
        self.cfg = cfg
        self.query = query
        self._locks: dict[str, threading.Lock] = {}
        self._clients: dict[str, DockerClient] = {}  # the host's client while it is being asked
        self._guard = threading.Lock()

    def registry_lock(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def host(self, h: PollerHost) -> HostResult:
        start = time.monotonic()
        if not valid_hostname(h.name):  # it would reach the engine's command pipe: never ask, never submit
            why = f"{printable(h.name)!r} is not a valid host name (RFC 1123): nothing is asked or submitted for it"
            return HostResult.unknown(h.name, why)
        try:
            ep = host_endpoint(h, self.cfg, timeout=self.query.timeout)
        except UsageError as exc:
            return HostResult.unknown(h.name, str(exc))
        # one snapshot per host: the engine's inspect serves the container and the image check alike
        with DockerClient(ep, remember=True) as client:
            with self._guard:
                self._clients[h.name] = client
            try:
                result = self._ask(client, h)
            finally:
                with self._guard:
                    self._clients.pop(h.name, None)
        result.seconds = time.monotonic() - start
        return result

    def _ask(self, client: DockerClient, h: PollerHost) -> HostResult:
        daemon = evaluate(host_check(client, self.query.host), "DOCKER")
        if daemon.code == State.UNKNOWN:  # the daemon does not answer: its services are not asked again
            return HostResult.unknown(h.name, daemon.line.split(" - ", 1)[-1])
        return HostResult(h.name, daemon, self._services(client, h))

    def _services(self, client: DockerClient, h: PollerHost) -> dict[str, CheckResult]:
        """The host's three services, built by the same functions as the plugins (checks/)."""
        q = self.query
        engine = engine_name(h, q.name)
        thresholds = q.thresholds
        container = container_check(client, ContainerQuery((engine,), thresholds))
        image_check = image.image_check(
            client,
            self.cfg,
            replace(q.image, name=engine, poller=h.name),
            self.registry_lock,
            poller=h,
        )
        vmware = vmware_check(
            client,
            VmwareQuery(
                name=str(h.vars.get("centreon_poller_vmware_name") or q.vmware_name),
                engine=engine,
                expect="present" if h.vmware_enabled else "absent",
                config_path=q.vmware_config_path,
                thresholds=thresholds,
            ),
        )
        return {
            "container": evaluate(container, "CONTAINER"),
            "image": evaluate(image_check, "IMAGE"),
            "vmware": evaluate(vmware, "VMWARE"),
        }

    def sweep(self, hosts: list[PollerHost], progress: Optional[Callable[[int, int], None]] = None) -> list[HostResult]:
        """Every host on daemon threads; a host past its deadline is UNKNOWN at once and its
        connection cut, so a daemon that trickles bytes delays nothing but itself."""
        todo: queue.Queue[tuple[int, PollerHost]] = queue.Queue()
        for item in enumerate(hosts):
            todo.put(item)
        done: queue.Queue[tuple[int, HostResult]] = queue.Queue()
        started: dict[int, float] = {}
        guard = threading.Lock()

        def work() -> None:
            while True:
                try:
                    i, h = todo.get_nowait()
                except queue.Empty:
                    return
                with guard:
                    started[i] = time.monotonic()
                try:
                    r = self.host(h)
                except Exception as exc:  # noqa: BLE001 - one host's surprise must not end the sweep
                    bad = CheckResult(State.UNKNOWN, f"DOCKER UNKNOWN - internal error: {type(exc).__name__}: {exc}")
                    r = HostResult(h.name, bad, {s: bad for s in SERVICES})
                done.put((i, r))

        def worker() -> None:
            threading.Thread(target=work, daemon=True).start()  # daemon: a stuck host never holds the exit

        for _ in range(max(1, min(self.query.workers, len(hosts) or 1))):
            worker()
        limit = self.query.host_deadline
        results: dict[int, HostResult] = {}

        def finished(i: int, r: HostResult) -> None:
            results[i] = r
            with guard:  # what is running stays as small as the pool: not a scan of every host per result
                started.pop(i, None)
            if progress:
                progress(len(results), len(hosts))

        while len(results) < len(hosts):
            with guard:
                running = {i: t for i, t in started.items() if i not in results}  # started holds only the unfinished
            wait = min((t + limit for t in running.values()), default=time.monotonic() + limit) - time.monotonic()
            try:
                i, r = done.get(timeout=max(0.01, wait))
                if i not in results:  # a late host's own answer, after it was given up, is dropped
                    finished(i, r)
                continue
            except queue.Empty:
                pass
            now = time.monotonic()
            for i, t in running.items():
                if i in results or now < t + limit:
                    continue
                h = hosts[i]
                why = f"no complete answer within {limit:g} s (--host-timeout); not asked further"
                finished(i, HostResult.unknown(h.name, why, now - t))
                self.abort(h.name)
                worker()  # the late host may hold its thread a while longer: the others need one
        return sorted(results.values(), key=lambda r: r.host)

    def abort(self, host: str) -> None:
        with self._guard:
            client = self._clients.pop(host, None)
        if client is not None:
            client.abort()
