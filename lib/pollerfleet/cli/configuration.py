"""``check-config``: is the configuration usable?"""

from __future__ import annotations

import argparse
from typing import Any

from pollerfleet.cli import common
from pollerfleet.core.exits import Exit


def add_parser(sub: Any) -> None:
    c = sub.add_parser("check-config", help="read the configuration and say whether it is usable")
    c.set_defaults(func=check_config)


def check_config(args: argparse.Namespace) -> int:
    cfg = common.load_config(args)
    print(f"configuration OK: {cfg.path if cfg.path else 'built-in defaults (no config file)'}")
    return Exit.DONE
