#!/usr/bin/env python3
"""Scale figures for `pollerfleet status`: fleets of 1000 and 10,000 simulated hosts.

The hosts are a Docker API replay server (benchmarks/replay_docker.py) whose answers are recorded
from the real test daemon, one host per 127.0.x.y address, 20 ms latency, 5% hung hosts; the
registry is the real test registry behind a counting gateway. Measured in one run:

- `pollerfleet status --json` wall time, CPU time per host, peak RSS, registry requests;
- against one process per check, as the engine runs plugins: check_poller_container +
  check_poller_image once per host, and check_docker once per host (a sample of hosts, per-host
  figures).

    benchmarks/bench_fleet_sweep.py [--sizes 1000 10000] [--latency 0.02] [--hung 0.05] [--profile PREFIX]

With --profile, `pollerfleet status` runs under benchmarks/thread_profile.py (one cProfile per
thread, on thread CPU time; the figures then include the profiler's cost): PREFIX-N.pstats per
size, and the functions with the most CPU of their own are printed.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import pstats
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.replay_docker import Replay  # noqa: E402
from tests.helpers import Docker, env_script  # noqa: E402
from tests.registry_tools import build_and_push  # noqa: E402
from tests.standins.gateway import Gateway  # noqa: E402


def measure(argv: list[str], stdout: int = subprocess.DEVNULL) -> tuple[float, float, float, int]:
    """(wall s, cpu s, peak RSS MiB, exit code) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=stdout, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


def fleet_files(tmp: Path, hosts: list[tuple[str, str]], port: int, gateway: str, name: str) -> Path:
    inv = tmp / "inventory.json"
    inv.write_text(
        json.dumps(
            {
                "all": {
                    "children": {
                        "pollers": {
                            "hosts": {
                                f"h{i:04d}": {
                                    "poller_docker_url": f"tcp://{addr}:{port}",
                                    "centreon_poller_engine_name": name,
                                }
                                for i, (addr, _) in enumerate(hosts)
                            }
                        }
                    }
                }
            }
        )
    )
    cfg = tmp / "fleet.toml"
    cfg.write_text(
        f'[docker]\ntls = false\n[registry]\nurl = "{gateway}"\nallow_http = true\n'
        f'cache_dir = "{tmp / "cache"}"\n[fleet]\ninventory = "{inv}"\n'
    )
    return cfg


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    p.add_argument("--latency", type=float, default=0.02)
    p.add_argument("--hung", type=float, default=0.05)
    p.add_argument("--sample", type=int, default=20, help="hosts checked one process per check")
    p.add_argument("--timeout", type=float, default=2.0)
    p.add_argument("--profile", metavar="PREFIX", help="profile each sweep into PREFIX-N.pstats")
    args = p.parse_args()
    # an installed package runs from .pyc files: without them every process would compile our modules
    compileall.compile_dir(str(ROOT / "lib"), quiet=1)
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    denv = env_script("dockerd.sh", "start")
    sock = denv["PFT_DOCKER_SOCK"]
    subprocess.run(["bash", str(ROOT / "tests/env/busybox-image.sh"), f"unix://{sock}"], check=True)
    reg = env_script("registry.sh", "start")["PFT_REGISTRY"]
    docker = Docker(f"unix://{sock}", denv["PFT_DOCKER_TCP"], "pfbench-")
    repo = f"{reg}/pfbench/fleet-engine"
    nonce = str(time.time())
    build_and_push(docker, f"{repo}:19.04.1", "19.04.1", nonce=nonce + "a")
    build_and_push(docker, f"{repo}:19.04.5", "19.04.5", nonce=nonce + "b")
    name = docker.run("fleet-engine", image=f"{repo}:19.04.1")
    gw = Gateway(f"http://{reg}")
    py = sys.executable
    check_docker = shutil.which("check_docker") or str(Path(py).parent / "check_docker")
    tmp = Path(tempfile.mkdtemp())

    # 1. record: every client runs once against one host that forwards to the real daemon
    replay = Replay(sock, latency=0.0)
    rec = replay.serve(1, 23990)
    cfg = fleet_files(tmp, rec, 23990, gw.url, name)
    url = f"tcp://{rec[0][0]}:23990"
    plugin_args = ["--docker-url", url, "--no-tls", "--config", str(cfg), "-n", name]
    for argv in (
        [py, "-m", "pollerfleet", "--config", str(cfg), "status", "--json"],
        [py, str(ROOT / "plugins/check_poller_container"), *plugin_args],
        [py, str(ROOT / "plugins/check_poller_image"), *plugin_args],
        [py, check_docker, "--connection", f"{rec[0][0]}:23990", "--containers", name, "--status", "running"],
    ):
        subprocess.run(argv, capture_output=True, check=False)
    replay.stop()
    recorded = dict(replay.answers)
    print(f"recorded {len(recorded)} answers of the real daemon: {', '.join(sorted(recorded))}")

    rows = []
    for i, n in enumerate(args.sizes):
        port = 24000 + i
        sim = Replay(None, latency=args.latency, answers=recorded)
        hosts = sim.serve(n, port, hung=args.hung)
        work = tmp / f"n{n}"
        work.mkdir()
        cfg = fleet_files(work, hosts, port, gw.url, name)
        gw.reset()
        profiler = ["-m"]  # python -m pollerfleet, or under the per-thread profiler
        if args.profile:
            profiler = [str(ROOT / "benchmarks/thread_profile.py"), f"{args.profile}-{n}.pstats"]
        wall, cpu, rss, _rc = measure(
            [
                py,
                *profiler,
                "pollerfleet",
                "--config",
                str(cfg),
                "status",
                "--json",
                "-t",
                str(args.timeout),
                "--workers",
                "100",
            ]
        )
        rows.append((n, wall, cpu, rss, gw.count, sum(k == "hung" for _, k in hosts)))
        if args.profile:
            print(f"\n{n} hosts, CPU by function (own time, all threads):")
            pstats.Stats(f"{args.profile}-{n}.pstats").sort_stats("tottime").print_stats(25)
        if n == max(args.sizes[:2] or args.sizes):
            sample = [(a, k) for a, k in hosts if k == "ok"][: args.sample]
            per_plugins, per_docker = [], []
            for addr, _ in sample:
                pa = ["--docker-url", f"tcp://{addr}:{port}", "--no-tls", "--config", str(cfg), "-n", name, "-t", "5"]
                w1, c1, _, _ = measure([py, str(ROOT / "plugins/check_poller_container"), *pa])
                w2, c2, _, _ = measure([py, str(ROOT / "plugins/check_poller_image"), *pa])
                per_plugins.append((w1 + w2, c1 + c2))
                w3, c3, _, _ = measure(
                    [
                        py,
                        check_docker,
                        "--connection",
                        f"{addr}:{port}",
                        "--containers",
                        name,
                        "--status",
                        "running",
                        "--timeout",
                        "5",
                    ]
                )
                per_docker.append((w3, c3))
        sim.stop()
    gw.stop()
    docker("rm", "-f", name)
    shutil.rmtree(tmp, ignore_errors=True)

    print(
        f"\nlatency {args.latency * 1000:.0f} ms per request, {args.hung:.0%} hung hosts, per-call timeout "
        f"{args.timeout:g} s, 100 workers"
    )
    print(f"{'hosts':>6}{'hung':>6}{'wall':>9}{'cpu':>9}{'cpu/host':>11}{'peak RSS':>11}{'registry req':>14}")
    for n, wall, cpu, rss, reqs, hung in rows:
        print(f"{n:>6}{hung:>6}{wall:>8.2f}s{cpu:>8.2f}s{cpu / n * 1000:>9.2f}ms{rss:>8.0f}MiB{reqs:>14}")
    pw = sum(w for w, _ in per_plugins) / len(per_plugins)
    pc = sum(c for _, c in per_plugins) / len(per_plugins)
    dw = sum(w for w, _ in per_docker) / len(per_docker)
    dc = sum(c for _, c in per_docker) / len(per_docker)
    big = rows[-1]
    sweep_cpu = big[2] / big[0]
    print(f"\none process per check, per host ({len(per_plugins)} hosts):")
    print(f"  check_poller_container + check_poller_image: wall {pw * 1000:.0f} ms, cpu {pc * 1000:.0f} ms")
    print(f"  check_docker (container status only):        wall {dw * 1000:.0f} ms, cpu {dc * 1000:.0f} ms")
    print(
        f"  pollerfleet status at {big[0]} hosts:            cpu {sweep_cpu * 1000:.1f} ms per host (all four checks)"
    )
    print(
        f"ratios: cpu per host, check_docker / sweep = {dc / sweep_cpu:.1f}x (target >= 10x); "
        f"our two plugins / sweep = {pc / sweep_cpu:.1f}x; {big[0]}-host wall {big[1]:.1f} s, "
        f"{sweep_cpu * 1000:.2f} ms cpu/host (target at 10,000: < 30 s, < 2 ms); "
        f"registry requests {', '.join(str(r[4]) for r in rows)} (target: flat)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
