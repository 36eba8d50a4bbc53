"""The whole fleet from one process: every inventory host evaluated concurrently with exactly the
plugins' own Resources, Contexts and Summaries (in-process, no subprocess per check), one
registry cache for all, and the results for people (a table), machines (JSON) or the monitoring
engine (passive check results through its external command file).

One slow or hung host never stalls the rest: a bounded thread pool, a per-host timeout on every
Docker call, and a host whose daemon does not answer is not asked again for its services.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import queue
import select
import stat
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import nagiosplugin
from nagiosplugin.output import Output

from . import imagecheck
from .config import Config, ConfigError
from .containers import ContainerContext, ContainerResource, ContainerSummary, threshold_contexts
from .daemon import DaemonContext, DaemonResource, DaemonSummary
from .docker_api import DockerClient, UsageError
from .fleet import endpoint, engine_name
from .inventory import PollerHost
from .names import command_field_problem, plain, printable, valid_hostname
from .vmware import VmwareContext, VmwareResource, VmwareSummary

STATES = ("OK", "WARNING", "CRITICAL", "UNKNOWN")
SERVICES = ("container", "image", "vmware")


@dataclass(frozen=True)
class ServiceNames:
    """The Centreon service descriptions the results are submitted as."""

    container: str = "Poller container"
    image: str = "Poller image"
    vmware: str = "Poller vmware"


@dataclass
class Outcome:
    """One check's result: the exit code and the plugin's status line (with perfdata)."""

    code: int
    line: str

    @property
    def state(self) -> str:
        return STATES[self.code]


@dataclass
class HostResult:
    host: str
    daemon: Outcome
    services: dict[str, Outcome] = field(default_factory=dict)
    seconds: float = 0.0


def worst_code(codes: Iterable[int]) -> int:
    """CRITICAL > WARNING > UNKNOWN > OK, as the Monitoring Plugins rank states."""
    rank = {0: 0, 3: 1, 1: 2, 2: 3}
    return max(codes, key=lambda c: rank.get(c, 1), default=0)


def _run(check: nagiosplugin.Check, label: str) -> Outcome:
    """Evaluate a Check in-process and format its line with nagiosplugin's own output code, as
    the plugin prints it: the same status line, the same perfdata, the same screening of '|'."""
    check.name = label
    try:
        check()
    except ConfigError as exc:  # as the plugin says it (plugin.guarded)
        return Outcome(3, f"{label} UNKNOWN - {exc}")
    out = Output(logging.StreamHandler(io.StringIO()))
    out.add(check)
    return Outcome(check.exitcode, out.status)


class Sweeper:
    """Evaluates hosts; thread-safe; shares the registry cache and one lock per repository."""

    def __init__(self, cfg: Config, args: argparse.Namespace) -> None:
        self.cfg = cfg
        self.args = args
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
            down = Outcome(3, f"DOCKER UNKNOWN - {why}")
            return HostResult(h.name, down, {s: Outcome(3, f"{s.upper()} UNKNOWN - {why}") for s in SERVICES})
        try:
            ep = endpoint(h, self.cfg, timeout=self.args.timeout)
        except UsageError as exc:
            down = Outcome(3, f"DOCKER UNKNOWN - {exc}")
            return HostResult(h.name, down, {s: Outcome(3, f"{s.upper()} UNKNOWN - {exc}") for s in SERVICES})
        with DockerClient(ep) as client:
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
        daemon = _run(
            nagiosplugin.Check(
                DaemonResource(client),
                DaemonContext(),
                nagiosplugin.ScalarContext(
                    "latency", self.args.warning_latency or None, self.args.critical_latency or None
                ),
                DaemonSummary(),
            ),
            "DOCKER",
        )
        result = HostResult(h.name, daemon)
        if daemon.code == 3:  # the daemon does not answer: its services are not asked again
            reason = daemon.line.split(" - ", 1)[-1]
            result.services = {s: Outcome(3, f"{s.upper()} UNKNOWN - {reason}") for s in SERVICES}
        else:
            result.services = self._services(client, h)
        return result

    def _services(self, client: DockerClient, h: PollerHost) -> dict[str, Outcome]:
        a = self.args
        engine = engine_name(h, a.name)
        image = argparse.Namespace(**{**vars(a), "name": engine})
        vm = argparse.Namespace(
            **{
                **vars(a),
                "name": str(h.vars.get("centreon_poller_vmware_name") or a.vmware_name),
                "engine": engine,
                "network": "",
                "expect": "present" if h.vmware_enabled else "absent",
                "config_path": a.vmware_config_path,
            }
        )
        container = nagiosplugin.Check(
            ContainerResource(client, engine), ContainerContext(), *threshold_contexts(a), ContainerSummary()
        )
        image_check = nagiosplugin.Check(
            imagecheck.ImageResource(client, self.cfg, image, self.registry_lock, poller=h),
            *imagecheck.contexts(image),
            imagecheck.ImageSummary(),
        )
        vmware = nagiosplugin.Check(
            VmwareResource(client, vm), VmwareContext(), *threshold_contexts(vm), VmwareSummary()
        )
        return {
            "container": _run(container, "CONTAINER"),
            "image": _run(image_check, "IMAGE"),
            "vmware": _run(vmware, "VMWARE"),
        }

    @property
    def host_deadline(self) -> float:
        """How long one host may take in all (every call, the registry too): --host-timeout, else 3 x -t."""
        return float(getattr(self.args, "host_timeout", None) or 3 * self.args.timeout)

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
                    bad = Outcome(3, f"DOCKER UNKNOWN - internal error: {type(exc).__name__}: {exc}")
                    r = HostResult(h.name, bad, {s: bad for s in SERVICES})
                done.put((i, r))

        def worker() -> None:
            threading.Thread(target=work, daemon=True).start()  # daemon: a stuck host never holds the exit

        for _ in range(max(1, min(self.args.workers, len(hosts) or 1))):
            worker()
        limit = self.host_deadline
        results: dict[int, HostResult] = {}

        def finished(i: int, r: HostResult) -> None:
            results[i] = r
            if progress:
                progress(len(results), len(hosts))

        while len(results) < len(hosts):
            with guard:
                running = {i: t for i, t in started.items() if i not in results}
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
                late = HostResult(h.name, Outcome(3, f"DOCKER UNKNOWN - {why}"), {}, now - t)
                late.services = {s: Outcome(3, f"{s.upper()} UNKNOWN - {why}") for s in SERVICES}
                finished(i, late)
                self.abort(h.name)
                worker()  # the late host may hold its thread a while longer: the others need one
        return sorted(results.values(), key=lambda r: r.host)

    def abort(self, host: str) -> None:
        with self._guard:
            client = self._clients.pop(host, None)
        if client is not None:
            client.abort()


# -- the engine's external command file -------------------------------------------------------------
class SubmitError(Exception):
    """The results could not be handed to the engine; str() says why."""


def command_lines(results: list[HostResult], names: ServiceNames, now: Optional[int] = None) -> list[str]:
    """PROCESS_HOST_CHECK_RESULT / PROCESS_SERVICE_CHECK_RESULT lines, one per host and service.

    A host whose name is not a valid host name gets no line; a service name that could forge a
    field is a ValueError. Each line fits in one atomic pipe write (PIPE_BUF)."""
    t = int(now if now is not None else time.time())
    for what, name in (("container", names.container), ("image", names.image), ("vmware", names.vmware)):
        problem = command_field_problem(name, f"{what} service name")
        if problem:
            raise ValueError(problem)

    def clean(text: str) -> str:
        return plain(text).replace("\\", "\\\\")

    def line(head: str, output: str) -> str:
        room = PIPE_BUF - 1 - len(head.encode())
        out = clean(output).encode()
        if len(out) > room:  # cut on a character boundary, and say so
            out = out[: max(0, room - 3)].decode("utf-8", "ignore").encode() + b"..."
        return head + out.decode()

    lines = []
    for r in results:
        if not valid_hostname(r.host):
            continue
        # host checks know UP(0) and DOWN(1): a daemon that does not answer is a host that is down
        host_code = 0 if r.daemon.code in (0, 1) else 1
        lines.append(line(f"[{t}] PROCESS_HOST_CHECK_RESULT;{r.host};{host_code};", r.daemon.line))
        for service, outcome in r.services.items():
            lines.append(
                line(
                    f"[{t}] PROCESS_SERVICE_CHECK_RESULT;{r.host};{getattr(names, service)};{outcome.code};",
                    outcome.line,
                )
            )
    return lines


def refused_hosts(results: list[HostResult]) -> list[str]:
    """One line per host the sweep refused to ask or submit (its name could forge engine commands)."""
    return [r.daemon.line.split(" - ", 1)[-1] for r in results if not valid_hostname(r.host)]


PIPE_BUF = select.PIPE_BUF  # a pipe write of at most this many bytes is never interleaved with another's


def _writes(lines: list[str]) -> Iterator[bytes]:
    """Whole lines packed into writes of at most PIPE_BUF bytes (a longer line is cut to fit)."""
    chunk = b""
    for text in lines:
        one = text.encode()[: PIPE_BUF - 1].decode("utf-8", "ignore").encode() + b"\n"
        if len(chunk) + len(one) > PIPE_BUF:
            yield chunk
            chunk = b""
        chunk += one
    if chunk:
        yield chunk


def submit(path: Path, lines: list[str], allow_regular_file: bool = False, timeout: float = 10.0) -> int:
    """Write LINES to the engine's command file; return bytes written.

    The file must be a FIFO (the engine's command pipe) unless ALLOW_REGULAR_FILE. It is opened
    without blocking: with no engine reading, the pipe refuses (ENXIO) instead of hanging forever.
    Each write is whole lines and at most PIPE_BUF bytes, so the engine never reads a line of ours
    interleaved with another writer's (a larger write to a pipe is not atomic).
    """
    try:
        st = path.stat()
    except FileNotFoundError:
        raise SubmitError(f"the engine's command file {path} does not exist (is the engine running?)") from None
    if not stat.S_ISFIFO(st.st_mode) and not allow_regular_file:
        raise SubmitError(f"{path} is not a FIFO: not the engine's command pipe (--allow-regular-file to write anyway)")
    flags = os.O_WRONLY | os.O_NONBLOCK | (0 if stat.S_ISFIFO(st.st_mode) else os.O_APPEND)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == 6:  # ENXIO: a FIFO nobody reads
            raise SubmitError(f"no engine reads {path} (the pipe has no reader)") from None
        raise SubmitError(f"cannot open {path}: {exc.strerror}") from None
    written = 0
    try:
        for data in _writes(lines):
            deadline = time.monotonic() + timeout
            view = memoryview(data)
            while view:
                try:
                    n = os.write(fd, view)
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise SubmitError(f"the engine did not read {path} within {timeout:g} s") from None
                    time.sleep(0.01)
                    continue
                written += n
                view = view[n:]
    finally:
        os.close(fd)
    return written


# -- for people ------------------------------------------------------------------------------------
COLOURS = {"OK": "\033[32m", "WARNING": "\033[33m", "CRITICAL": "\033[31m", "UNKNOWN": "\033[35m"}


def detail(r: HostResult) -> str:
    """What is wrong with a host, whole: each problem once (a host that does not answer says so
    once, not four times)."""
    problems = dict.fromkeys(
        o.line.split(" - ", 1)[-1].split(" | ")[0] for o in (r.daemon, *r.services.values()) if o.code
    )
    return "; ".join(problems)


def table(results: list[HostResult], colour: bool, width: Optional[int] = None) -> str:
    """The fleet as a table whose columns fit their content; DETAIL whole, wrapped to WIDTH
    (a terminal's) in its own column (under the row when the terminal is too narrow for that),
    or on one line when WIDTH is None."""
    import textwrap

    heads = ("DOCKER", "CONTAINER", "IMAGE", "VMWARE")
    states = [[r.daemon, r.services["container"], r.services["image"], r.services["vmware"]] for r in results]
    host_w = max([len("HOST"), *(len(printable(r.host)) for r in results)]) + 2
    widths = [max([len(h), *(len(row[i].state) for row in states)]) + 2 for i, h in enumerate(heads)]
    indent = host_w + sum(widths)
    if width and width - indent < 30:  # too narrow beside the states: the detail goes under its row
        indent = 4
    wrap_at = width - indent if width else None

    def cell(o: Outcome, w: int) -> str:
        text = o.state.ljust(w)
        return f"{COLOURS[o.state]}{text}\033[0m" if colour else text

    rows = ["HOST".ljust(host_w) + "".join(h.ljust(w) for h, w in zip(heads, widths)) + "DETAIL"]
    for r, row in zip(results, states):
        text = detail(r)
        lines = textwrap.wrap(text, wrap_at, break_on_hyphens=False) if wrap_at else [text]
        head = printable(r.host).ljust(host_w) + "".join(cell(o, w) for o, w in zip(row, widths))
        if indent == 4:
            rows += [head.rstrip(), *(" " * indent + line for line in lines)]
            continue
        rows.append((head + (lines[0] if lines else "")).rstrip())
        rows += [" " * indent + line for line in lines[1:]]
    return "\n".join(rows)


def to_json(results: list[HostResult]) -> list[dict[str, Any]]:
    return [
        {
            "host": r.host,
            "state": STATES[worst_code([r.daemon.code, *(o.code for o in r.services.values())])],
            "seconds": round(r.seconds, 3),
            "docker": vars(r.daemon),
            "services": {k: vars(v) for k, v in r.services.items()},
            "detail": detail(r),
        }
        for r in results
    ]
