#!/usr/bin/env python3
"""Registry requests and wall time for checking 60 hosts' images in a row.

check_poller_image with the registry cache (TTL 300 s), without it (--no-cache), and
check_docker --version (PyPI check-docker) where it can run, all against the same running
container of the test daemon and the real test registry, counted at a gateway on 127.0.0.1.

    benchmarks/bench_image_cache.py [--hosts 60]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.helpers import Docker, env_script  # noqa: E402
from tests.registry_tools import build_and_push  # noqa: E402
from tests.standins.gateway import Gateway  # noqa: E402


def series(argvs: list[list[str]], gw: Gateway) -> tuple[float, int, int]:
    """Run each argv once in a row; return (wall seconds, registry requests, non-OK exits)."""
    gw.reset()
    bad = 0
    start = time.perf_counter()
    for argv in argvs:
        bad += subprocess.run(argv, capture_output=True, check=False).returncode != 0
    return time.perf_counter() - start, gw.count, bad


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hosts", type=int, default=60)
    args = p.parse_args()
    denv = env_script("dockerd.sh", "start")
    subprocess.run(["bash", str(ROOT / "tests/env/busybox-image.sh"), f"unix://{denv['PFT_DOCKER_SOCK']}"], check=True)
    reg = env_script("registry.sh", "start")["PFT_REGISTRY"]
    docker = Docker(f"unix://{denv['PFT_DOCKER_SOCK']}", denv["PFT_DOCKER_TCP"], "pfbench-")
    build_and_push(docker, f"{reg}/pfbench/centreon-engine:19.04.5", "19.04.5", nonce=str(time.time()))
    gw = Gateway(f"http://{reg}")
    gw_host = gw.url.split("://", 1)[1]
    ref = f"{gw_host}/pfbench/centreon-engine:19.04.5"
    docker("tag", f"{reg}/pfbench/centreon-engine:19.04.5", ref)
    docker("rmi", f"{reg}/pfbench/centreon-engine:19.04.5")  # check_docker refuses an image with several tags

    name = docker.run("image", image=ref)
    tmp = Path(tempfile.mkdtemp())
    cfg = tmp / "fleet.toml"
    cfg.write_text(f'[registry]\nurl = "{gw.url}"\nallow_http = true\ncache_dir = "{tmp / "cache"}"\n')
    ours = [
        sys.executable,
        str(ROOT / "plugins/check_poller_image"),
        "--docker-url",
        docker.host,
        "-n",
        name,
        "--config",
        str(cfg),
    ]
    rows = [
        ("check_poller_image, cache", series([ours] * args.hosts, gw)),
        ("check_poller_image --no-cache", series([[*ours, "--no-cache"]] * args.hosts, gw)),
    ]
    check_docker = shutil.which("check_docker") or str(Path(sys.executable).parent / "check_docker")
    theirs = [
        sys.executable,
        check_docker,
        "--connection",
        denv["PFT_DOCKER_SOCK"],
        "--containers",
        name,
        "--version",
        "--insecure-registries",
        gw_host,
    ]
    rows.append(("check_docker --version", series([theirs] * args.hosts, gw)))
    docker("rm", "-f", name)
    gw.stop()
    shutil.rmtree(tmp)
    print(f"{args.hosts} hosts' images checked in a row (one process per check, as the engine runs them)")
    print(f"{'':34}{'wall':>10}{'per check':>12}{'registry requests':>20}{'non-OK':>8}")
    for label, (wall, count, bad) in rows:
        print(f"{label:34}{wall:>8.2f} s{wall / args.hosts * 1000:>9.0f} ms{count:>20}{bad:>8}")
    cached, uncached, peer = rows[0][1], rows[1][1], rows[2][1]
    print(
        f"registry requests, no cache / cache: {uncached[1] / max(cached[1], 1):.0f}x; "
        f"check_docker / cache: {peer[1] / max(cached[1], 1):.0f}x"
        + ("  (check_docker did not return OK: its figure counts failed runs)" if peer[2] else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
