#!/usr/bin/env python3
"""check_poller_container against its peers on the same running container: check_docker (PyPI
check-docker) and centreon-plugins' Docker container-usage mode (Debian centreon-plugins, over the
test daemon's plain tcp://127.0.0.1 port; skipped, with a line saying so, when not installed:
`make bench` installs it).

Every plugin runs as the engine runs it: a fresh interpreter per check, our modules byte-compiled
as an installed package has them. Runs alternate (ours, check_docker, centreon-plugins, ours, ...)
so drift on the machine hits all alike; the figures are the median wall time and the median peak
RSS (ru_maxrss of the child) over N runs each, and the ratio of the medians to each peer.

    benchmarks/bench_check_container.py [--runs 20]

It starts the private test daemon (tests/env/dockerd.sh) if it is not up, and one container.
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.helpers import BUSYBOX_IMAGE, DOCKER_CLI  # noqa: E402

CENTREON_PLUGINS = ("centreon_plugins.pl", "/usr/lib/nagios/plugins/centreon_plugins.pl")
# what the issue measured and the ceiling it set: ours / peer, median wall
CEILING = {"check_docker": 1.40, "centreon-plugins": 0.70}


def centreon_plugins() -> str | None:
    for candidate in CENTREON_PLUGINS:
        found = shutil.which(candidate)
        if found:
            return found
    return None


def measure(argv: list[str]) -> tuple[float, float, int]:
    """Run argv once; return (wall seconds, peak RSS MiB, exit code)."""
    start = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=[(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0)])
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    return wall, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=20)
    args = p.parse_args()

    subprocess.run(["bash", str(ROOT / "tests/env/dockerd.sh"), "start"], check=True)
    env = dict(
        line.split("=", 1)
        for line in subprocess.run(
            ["bash", str(ROOT / "tests/env/dockerd.sh"), "env"], capture_output=True, text=True, check=True
        ).stdout.splitlines()
    )
    sock = env["PFT_DOCKER_SOCK"]
    tcp_port = env["PFT_DOCKER_TCP"].rsplit(":", 1)[1]
    # an installed package runs from .pyc files: without them every run would compile our modules
    # (PYTHONDONTWRITEBYTECODE, a read-only tree) and measure the compiler, not the plugin
    compileall.compile_dir(str(ROOT / "lib"), quiet=1)
    subprocess.run(["bash", str(ROOT / "tests/env/busybox-image.sh"), f"unix://{sock}", BUSYBOX_IMAGE], check=True)
    name = "pfbench-engine"
    docker = [DOCKER_CLI, "-H", f"unix://{sock}"]
    subprocess.run([*docker, "rm", "-f", name], capture_output=True, check=False)
    subprocess.run(
        [*docker, "run", "-d", "--name", name, "--network", "none", "--init", BUSYBOX_IMAGE, "sleep", "1000000"],
        capture_output=True,
        check=True,
    )

    check_docker = shutil.which("check_docker") or str(Path(sys.executable).parent / "check_docker")
    peers = {
        "check_poller_container": [
            sys.executable,
            str(ROOT / "plugins/check_poller_container"),
            "--docker-url",
            f"unix://{sock}",
            "-n",
            name,
        ],
        "check_docker": [
            sys.executable,
            check_docker,
            "--connection",
            sock,
            "--containers",
            name,
            "--status",
            "running",
            "--restarts",
            "3:10",
        ],
    }
    centreon = centreon_plugins()
    if centreon is None:
        print("centreon-plugins: not installed (Debian centreon-plugins, libjson-xs-perl, libwww-perl); skipped")
    else:
        peers["centreon-plugins"] = [
            centreon,
            "--plugin=cloud::docker::restapi::plugin",
            "--mode=container-usage",
            "--hostname=127.0.0.1",
            f"--port={tcp_port}",
            "--proto=http",
            f"--container-name={name}",
        ]
    for label, argv in list(peers.items()):  # warm the page cache, and make sure each says OK
        _, _, rc = measure(argv)
        if rc != 0 and label == "centreon-plugins":
            print(f"centreon-plugins: did not return OK (exit {rc}; missing Perl modules?); skipped")
            del peers[label]
        elif rc != 0:
            print(f"{label} did not return OK (exit {rc}); the comparison would be meaningless", file=sys.stderr)
            return 1
    results: dict[str, list[tuple[float, float]]] = {k: [] for k in peers}
    for _ in range(args.runs):
        for label, argv in peers.items():
            wall, rss, _ = measure(argv)
            results[label].append((wall, rss))
    subprocess.run([*docker, "rm", "-f", name], capture_output=True, check=False)

    print(f"{'plugin':<24}{'median wall':>14}{'min wall':>12}{'median peak RSS':>18}   ({args.runs} alternating runs)")
    med = {}
    for label, rows in results.items():
        walls = [w for w, _ in rows]
        rsss = [r for _, r in rows]
        med[label] = (statistics.median(walls), statistics.median(rsss))
        print(f"{label:<24}{med[label][0] * 1000:>11.1f} ms{min(walls) * 1000:>9.1f} ms{med[label][1]:>15.1f} MiB")
    ours = med["check_poller_container"]
    for peer, ceiling in CEILING.items():
        if peer not in med:
            continue
        theirs = med[peer]
        print(
            f"ratio ours/{peer}: wall {ours[0] / theirs[0]:.2f}x, "
            f"peak RSS {ours[1] / theirs[1]:.2f}x (must stay <= {ceiling:.2f}x wall)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
