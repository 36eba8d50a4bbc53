#!/usr/bin/env python3
"""Run a Python module with one cProfile per thread, each on its own thread's CPU time, and write
the merged statistics: where a multi-threaded run (the sweep's workers) spends its CPU, not where
its threads wait for the network or for each other.

    benchmarks/thread_profile.py OUT.pstats MODULE [ARG ...]      # e.g. ... -m pollerfleet status

bench_fleet_sweep.py --profile runs `pollerfleet status` through it.
"""

from __future__ import annotations

import cProfile
import pstats
import runpy
import sys
import threading
import time


def main() -> int:
    out, module = sys.argv[1], sys.argv[2]
    sys.argv = [module, *sys.argv[3:]]
    profiles: list[cProfile.Profile] = []
    lock = threading.Lock()
    original = threading.Thread.run

    def run(self: threading.Thread) -> None:
        profile = cProfile.Profile(time.thread_time)
        with lock:
            profiles.append(profile)
        profile.enable()
        try:
            original(self)
        finally:
            profile.disable()

    threading.Thread.run = run  # type: ignore[method-assign]
    main_profile = cProfile.Profile(time.thread_time)
    code = 0
    main_profile.enable()
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        main_profile.disable()
    with lock:  # a thread still running (a hung host's) adds what it has counted so far
        stats = pstats.Stats(main_profile)
        for profile in profiles:
            stats.add(profile)
    stats.dump_stats(out)
    return code


if __name__ == "__main__":
    sys.exit(main())
