"""``pollerfleet``'s parser, built from each command group's ``add_parser``, and its dispatch."""

from __future__ import annotations

import argparse
import sys
from typing import Any, Optional

from pollerfleet import __version__
from pollerfleet.cli import configuration, deploy, promotion, repair, rollout, sweep
from pollerfleet.cli.options import USAGE_ERROR, Parser, add_global_options
from pollerfleet.core import verbosity
from pollerfleet.core.exits import Exit

# in the order `pollerfleet --help` lists them: look, deploy, repair, promote
GROUPS = (configuration, sweep, rollout, deploy, repair, promotion)


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="pollerfleet", description="Watch, repair and rebuild the Centreon poller fleet.")
    p.add_argument("-V", "--version", action="version", version=f"%(prog)s {__version__}")
    add_global_options(p)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for group in GROUPS:
        group.add_parser(sub)
    _global_options_everywhere(sub)
    return p


def _global_options_everywhere(sub: Any) -> None:
    """--config and -v before or after the subcommand; each subcommand's description is its help."""
    for action in sub._choices_actions:
        cmd = sub.choices[action.dest]
        add_global_options(cmd, argparse.SUPPRESS)  # given after the subcommand, it wins; else the global one
        if not cmd.description:
            cmd.description = action.help[0].upper() + action.help[1:] + "."


def main(argv: Optional[list[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return USAGE_ERROR
    verbosity.setup(args.verbose, sys.stderr)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("pollerfleet: interrupted", file=sys.stderr)
        return Exit.INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - one line for the operator; the traceback with -vvv
        print(f"pollerfleet: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        if verbosity.level() >= 3:
            import traceback  # only for -vvv after an internal error: never at start-up

            traceback.print_exc(file=sys.stderr)
        return USAGE_ERROR


if __name__ == "__main__":
    sys.exit(main())
