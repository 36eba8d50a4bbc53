"""Following a Jenkins queue item to its build and result, with progress for a person."""

from __future__ import annotations

import sys
import time
from typing import Callable, Optional, TextIO

from pollerfleet.clients.jenkins import BuildRef, JenkinsClient


def follow(
    jenkins: JenkinsClient,
    job: str,
    queue_id: int,
    *,
    timeout: float = 3600,
    interval: float = 2.0,
    out: TextIO = sys.stdout,
    sleep: Callable[[float], None] = time.sleep,
) -> Optional[BuildRef]:
    """Wait for the queued build to finish; print each change of phase. None on timeout."""
    tty = out.isatty()
    last = ""
    start = time.monotonic()
    number: Optional[int] = None
    while time.monotonic() - start < timeout:
        if number is None:
            item = jenkins.queue_item(queue_id)
            if item.result == "CANCELLED":
                _say(out, tty, f"queue item {queue_id} was cancelled")
                return item
            number = item.number
            if number is None:
                last = _progress(
                    out, tty, f"queued as item {queue_id}" + (f": {item.why}" if item.why else ""), last, start
                )
                sleep(interval)
                continue
        build = jenkins.build(job, number)
        if not build.building:
            _say(out, tty, f"{job} #{number} finished: {build.result}")
            return build
        last = _progress(out, tty, f"{job} #{number} running", last, start)
        sleep(interval)
    _say(out, tty, f"gave up waiting after {timeout:g} s; the build goes on in Jenkins")
    return None


def _progress(out: TextIO, tty: bool, phase: str, last: str, start: float) -> str:
    if tty:
        out.write(f"\r\033[K{phase} ({int(time.monotonic() - start)} s)")
        out.flush()
    elif phase != last:
        out.write(phase + "\n")
        out.flush()
    return phase


def _say(out: TextIO, tty: bool, text: str) -> None:
    out.write(("\r\033[K" if tty else "") + text + "\n")
    out.flush()
