"""Passive check results for the monitoring engine: the command lines and their safe write
to its external command file (a FIFO), whole lines of at most PIPE_BUF bytes."""

from __future__ import annotations

import errno
import os
import select
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from pollerfleet.core.exits import State
from pollerfleet.core.names import command_field_problem, plain, valid_hostname
from pollerfleet.fleet.sweep import HostResult

PIPE_BUF = select.PIPE_BUF  # a pipe write of at most this many bytes is never interleaved with another's


@dataclass(frozen=True)
class ServiceNames:
    """The Centreon service descriptions the results are submitted as."""

    container: str = "Poller container"
    image: str = "Poller image"
    vmware: str = "Poller vmware"


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
        host_code = 0 if r.daemon.code in (State.OK, State.WARNING) else 1
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
        if exc.errno == errno.ENXIO:  # a FIFO nobody reads
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
