"""The operator's command: ``pollerfleet``."""

from __future__ import annotations

import argparse
import sys
from typing import Optional

from . import __version__, config


def _config_check(args: argparse.Namespace) -> int:
    try:
        cfg = config.load(args.config)
    except config.ConfigError as exc:
        print(f"pollerfleet: {exc}", file=sys.stderr)
        return 2
    source = cfg.path if cfg.path else "built-in defaults (no config file)"
    print(f"configuration OK: {source}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pollerfleet", description="Watch, repair and rebuild the Centreon poller fleet.")
    p.add_argument("-V", "--version", action="version", version=f"%(prog)s {__version__}")
    p.add_argument(
        "--config",
        metavar="FILE",
        help="configuration file (default: $POLLERFLEET_CONFIG or /etc/pollerfleet/fleet.toml)",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    c = sub.add_parser("check-config", help="read the configuration and say whether it is usable")
    c.set_defaults(func=_config_check)
    return p


def main(argv: Optional[list[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("pollerfleet: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
