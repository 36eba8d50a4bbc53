"""``rollout``: where the fleet's images stand, as bars, with the pins, deploys, breaker and decisions."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from typing import Any

from pollerfleet.cli import common
from pollerfleet.cli.options import add_inventory_options, add_output_options, add_timeout_options, positive_float
from pollerfleet.core.exits import Exit


def add_parser(sub: Any) -> None:
    ro = sub.add_parser(
        "rollout",
        help="the rollout at a glance: image versions as bars (desired marked), pins, deploys, breaker, decisions",
    )
    add_inventory_options(ro, group=True)
    add_timeout_options(ro)
    g = add_output_options(
        ro, json_help="JSON for machines (one document per refresh)", colour_help="no colours on a terminal"
    )
    g.add_argument(
        "--last", type=int, default=5, metavar="N", help="the last N decisions of the audit log (default: %(default)s)"
    )
    g.add_argument(
        "--watch",
        type=positive_float,
        nargs="?",
        const=5.0,
        default=0,
        metavar="SECONDS",
        help="refresh every SECONDS (default 5) until Ctrl-C",
    )
    ro.set_defaults(func=rollout)


def rollout(args: argparse.Namespace) -> int:
    # the rollout view reads the audit log and Jenkins: python-jenkins and requests are imported by
    # this command, not by --help or the commands that do without them
    from pollerfleet.fleet.rollout import observe, render, to_json

    cfg = common.load_config(args)
    fleet = {h.name: h for h in common.chosen_hosts(args, cfg)}
    tty = sys.stdout.isatty()
    utf8 = (sys.stdout.encoding or "").lower().replace("-", "") == "utf8"
    while True:
        r = observe(cfg, fleet, timeout=args.timeout, workers=args.workers, last=args.last)
        if args.json:
            print(json.dumps(to_json(r), indent=None if args.watch else 1), flush=True)
        else:
            width = shutil.get_terminal_size().columns if tty else 100
            text = render(r, colour=tty and common.colour_wanted(args), width=width, block="\u2588" if utf8 else "#")
            clear = "\033[H\033[2J" if tty and args.watch else ""
            print(clear + text, flush=True)
        if not args.watch:
            return Exit.DONE
        try:
            time.sleep(args.watch)
        except KeyboardInterrupt:
            return Exit.DONE
        if not tty and not args.json:
            print()
