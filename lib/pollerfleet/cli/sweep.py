"""The fleet's state: ``status`` for the operator, ``sweep`` for the engine's passive services,
``stale-result`` for their freshness command."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from pollerfleet.checks import container, host, image
from pollerfleet.cli import common
from pollerfleet.cli.options import (
    add_inventory_options,
    add_output_options,
    add_timeout_options,
    range_arg,
    service,
)
from pollerfleet.core.exits import Exit, State

SERVICES = (
    ("container", "Poller container"),
    ("image", "Poller image"),
    ("vmware", "Poller vmware"),
)


def add_parser(sub: Any) -> None:
    st = sub.add_parser("status", help="the whole fleet at a glance: daemon, engine, image, vmware per host")
    _check_options(st)
    add_output_options(
        st,
        json_help="JSON for machines (every detail whole)",
        colour_help="no state colours on a terminal (also with NO_COLOR set or TERM=dumb)",
    )
    st.set_defaults(func=status)

    sw = sub.add_parser("sweep", help="evaluate the fleet and hand the results to the engine as passive checks")
    _check_options(sw)
    g = sw.add_argument_group("Submission", "where the results go, and as which Centreon services")
    g.add_argument("--submit", action="store_true", help="write to the engine's command file (else print)")
    g.add_argument("--command-file", metavar="PATH", help="default: [fleet] command_file")
    g.add_argument("--allow-regular-file", action="store_true", help="write even if it is not a FIFO")
    for kind, default in SERVICES:
        g.add_argument(
            f"--{kind}-service",
            type=service,
            default=default,
            metavar="NAME",
            help=f"the Centreon service that gets the {kind} result (default: %(default)s)",
        )
    sw.set_defaults(func=sweep)

    sr = sub.add_parser("stale-result", help="the freshness command of the passive services: UNKNOWN, exit 3")
    sr.set_defaults(func=stale_result)


def _check_options(p: argparse.ArgumentParser) -> None:
    """Which hosts, how long, and the plugins' own thresholds: a host's services are judged as the
    plugins judge them, with the plugins' option names."""
    add_inventory_options(p, hosts=True, group=True)
    add_timeout_options(p, host_timeout=True)
    host.add_latency_options(p.add_argument_group("Docker host (as check_docker_host)"), range_arg, short=False)
    container.add_threshold_options(p.add_argument_group("Engine container (as check_poller_container)"), range_arg)
    image.add_options(p.add_argument_group("Image (as check_poller_image)"), range_arg)
    g = p.add_argument_group("VMware connector (as check_poller_vmware)")
    g.add_argument(
        "--vmware-name",
        default="centreon-vmware",
        metavar="CONTAINER",
        help="the connector container (default: %(default)s; the inventory's centreon_poller_vmware_name wins)",
    )
    g.add_argument(
        "--vmware-config-path",
        default="",
        metavar="PATH",
        help="as check_poller_vmware --config-path: the connector's configuration file in its container",
    )


def status(args: argparse.Namespace) -> int:
    # the sweep's modules are imported by the commands that sweep: not by --help or the others
    from pollerfleet.fleet.render import table, to_json
    from pollerfleet.fleet.sweep import Sweeper, SweepQuery

    cfg = common.load_config(args)
    hosts = common.chosen_hosts(args, cfg)
    tty = sys.stdout.isatty()
    results = Sweeper(cfg, SweepQuery.from_options(args)).sweep(hosts, _progress if tty and len(hosts) > 20 else None)
    if args.json:
        # a host per line: json's C encoder (indent= takes its pure-Python one: a tenth of a sweep's CPU)
        print("[\n" + ",\n".join(json.dumps(h) for h in to_json(results)) + "\n]")
    else:
        width = shutil.get_terminal_size().columns if tty else None
        print(table(results, colour=tty and common.colour_wanted(args), width=width))
    return State.worst(r.worst for r in results)


def _progress(done: int, total: int) -> None:
    """A bar on the terminal's stderr while a large fleet is swept, wiped when it is done."""
    width = 30
    filled = width * done // total
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} hosts")
    if done == total:
        sys.stderr.write("\r\033[K")
    sys.stderr.flush()


def sweep(args: argparse.Namespace) -> int:
    # the sweep's modules are imported by the commands that sweep: not by --help or the others
    from pollerfleet.fleet.submit import ServiceNames, SubmitError, command_lines, refused_hosts, submit
    from pollerfleet.fleet.sweep import Sweeper, SweepQuery

    cfg = common.load_config(args)
    hosts = common.chosen_hosts(args, cfg)
    start = time.monotonic()
    results = Sweeper(cfg, SweepQuery.from_options(args)).sweep(hosts)
    lines = command_lines(results, ServiceNames(args.container_service, args.image_service, args.vmware_service))
    refused = refused_hosts(results)
    for why in refused:
        print(f"pollerfleet: inventory host {why}", file=sys.stderr)
    if not args.submit:
        print("\n".join(lines))
        return Exit.FAILED if refused else Exit.DONE
    path = Path(args.command_file) if args.command_file else cfg.fleet.command_file
    try:
        written = submit(path, lines, allow_regular_file=args.allow_regular_file)
    except SubmitError as exc:
        print(f"pollerfleet: {exc}", file=sys.stderr)
        return Exit.FAILED
    print(
        f"sweep: {len(hosts)} hosts, {len(lines)} results ({written} bytes) submitted to {path} "
        f"in {time.monotonic() - start:.1f} s"
    )
    return Exit.FAILED if refused else Exit.DONE


def stale_result(args: argparse.Namespace) -> int:
    print("UNKNOWN - no result from pollerfleet sweep within the freshness threshold (is its cron job running?)")
    return State.UNKNOWN
