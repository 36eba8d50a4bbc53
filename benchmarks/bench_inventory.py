#!/usr/bin/env python3
"""What the fleet inventory costs: loading it whole, and one check's look-up of one host.

For fleets of 60, 1000 and 10,000 hosts (a YAML inventory of nested groups, group_vars files and
one host_vars file in ten, as an operator's tree looks), the median CPU time over N runs of:

- parse: ``inventory.load`` with no cache, what every check paid before the cache;
- cold: ``inventory.find`` of one host when the cache must be built (the first check after a change);
- warm: ``inventory.find`` of one host from the cache, in a fresh interpreter that has imported
  what check_poller_image imports anyway; the look-up's own imports (sqlite3) included: what each
  image check pays (its wall time beside it);
- canaries: ``inventory.canaries`` from the cache in that same interpreter, after the look-up, as
  an image check asks it when promotion is configured (``recheck_after``: the host_vars files
  looked at within the last minute by another check); and "(every file)": the same with every
  host_vars file examined, what one check a minute pays (none decoded);
- warm fleet: ``inventory.load`` from the cache (what ``pollerfleet status`` pays).

    benchmarks/bench_inventory.py [--sizes 60 1000 10000] [--runs 5]
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "lib"))

from pollerfleet.core import inventory  # noqa: E402

WARM = """\
import sys, time
from pathlib import Path
import pollerfleet.checks.image  # what check_poller_image imports anyway (the inventory module among them)
from pollerfleet.core import inventory
t, c = time.perf_counter(), time.process_time()
h = inventory.find(Path(sys.argv[1]), name=sys.argv[2], cache_dir=Path(sys.argv[3]))
assert h is not None and h.vars.get("poller_image_tag")
wall, cpu = time.perf_counter() - t, time.process_time() - c
from pollerfleet.images.desired import CANARY_RECHECK_SECONDS
c = time.process_time()
inventory.canaries(Path(sys.argv[1]), cache_dir=Path(sys.argv[3]))
every = time.process_time() - c
inventory.canaries(Path(sys.argv[1]), cache_dir=Path(sys.argv[3]), recheck_after=CANARY_RECHECK_SECONDS)
c = time.process_time()
inventory.canaries(Path(sys.argv[1]), cache_dir=Path(sys.argv[3]), recheck_after=CANARY_RECHECK_SECONDS)
print(wall, cpu, time.process_time() - c, every)
"""


def make_tree(root: Path, n: int) -> Path:
    """A fleet of N hosts in ten sites (child groups of pollers), a pin per site, a host_vars file in ten."""
    root.mkdir(parents=True)
    lines = [
        "all:",
        "  children:",
        "    pollers:",
        "      vars:",
        "        poller_image_tag: '19.04.5'",
        "      children:",
    ]
    for site in range(10):
        lines += [f"        site{site}:", "          hosts:"]
        for i in range(site, n, 10):
            lines += [
                f"            poller{i:05d}:",
                f"              ansible_host: 10.{i // 65536}.{i // 256 % 256}.{i % 256}",
                "              poller_vmware_enabled: true",
            ]
    inv = root / "hosts.yml"
    inv.write_text("\n".join(lines) + "\n")
    (root / "group_vars").mkdir()
    (root / "group_vars" / "all.yml").write_text("poller_docker_tls_dir: /etc/pollerfleet/tls\n")
    for site in range(10):
        (root / "group_vars" / f"site{site}.yml").write_text(f"poller_image_repository: centreon/site{site}\n")
    (root / "host_vars").mkdir()
    for i in range(0, n, 10):
        (root / "host_vars" / f"poller{i:05d}.yml").write_text("poller_image_tag: '19.04.1'\n")
    stamp = time.time_ns() - 3600 * 10**9  # written a moment ago would never be cached (racy)
    for dirpath, dirnames, filenames in os.walk(root):
        for entry in [*dirnames, *filenames]:
            os.utime(os.path.join(dirpath, entry), ns=(stamp, stamp))
    return inv


def timed(fn: Callable[..., object], *args: object, **kwargs: object) -> float:
    """The CPU time of one call: on a shared machine, what the call costs, not what the others do."""
    start = time.process_time()
    fn(*args, **kwargs)
    return time.process_time() - start


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[60, 1000, 10000])
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args()
    # an installed package runs from .pyc files: without them every run would measure the compiler
    compileall.compile_dir(str(ROOT / "lib"), quiet=1)
    tmp = Path(tempfile.mkdtemp(prefix="pfbench-inv-"))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "lib")}
    print(
        f"{'hosts':>6}{'parse':>11}{'cold':>11}{'warm check':>13}{'(wall)':>10}{'canaries':>11}{'(every file)':>14}"
        f"{'warm fleet':>13}   "
        f"(CPU time, median of {args.runs})"
    )
    try:
        for n in args.sizes:
            inv = make_tree(tmp / f"n{n}", n)
            host = f"poller{n // 2:05d}"
            parse = [timed(inventory.load, inv) for _ in range(args.runs)]
            cold, check, check_wall, canary, every, fleet = [], [], [], [], [], []
            for r in range(args.runs):
                cache = tmp / f"cache{n}-{r}"
                cold.append(timed(inventory.find, inv, name=host, cache_dir=cache))
                out = subprocess.run(
                    [sys.executable, "-c", WARM, str(inv), host, str(cache)],
                    capture_output=True,
                    text=True,
                    env=env,
                    check=True,
                )
                wall, cpu, canary_cpu, every_cpu = map(float, out.stdout.split())
                check.append(cpu)
                check_wall.append(wall)
                canary.append(canary_cpu)
                every.append(every_cpu)
                fleet.append(timed(inventory.load, inv, cache_dir=cache))
            print(
                f"{n:>6}{statistics.median(parse) * 1000:>9.1f}ms{statistics.median(cold) * 1000:>9.1f}ms"
                f"{statistics.median(check) * 1000:>11.2f}ms{statistics.median(check_wall) * 1000:>8.2f}ms"
                f"{statistics.median(canary) * 1000:>9.2f}ms{statistics.median(every) * 1000:>12.2f}ms"
                f"{statistics.median(fleet) * 1000:>11.1f}ms"
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
