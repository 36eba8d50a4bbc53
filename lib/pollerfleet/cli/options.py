"""The options more than one subcommand takes, each declared once, in the argument groups that
``pollerfleet COMMAND --help`` shows (as httpie groups its options: what they are about first)."""

from __future__ import annotations

import argparse
from typing import Any, NoReturn

from pollerfleet.checks.runtime import positive_float, range_arg
from pollerfleet.core.exits import Exit
from pollerfleet.core.names import command_field_problem

USAGE_ERROR = Exit.NOT_JUDGED  # the plugins' UNKNOWN: never WARNING (1) or CRITICAL (2)

__all__ = ["USAGE_ERROR", "Parser", "positive_float", "range_arg"]


class Parser(argparse.ArgumentParser):
    """argparse, but a bad option is one line on stderr (exit 3, as every usage error), not usage plus message."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, f"{self.prog}: {message} (see {self.prog} --help)\n")


def add_global_options(p: argparse.ArgumentParser, default: Any = None) -> None:
    """--config and -v: before the subcommand (DEFAULT None), and after it (DEFAULT SUPPRESS: given
    there, it wins; else the one given before the subcommand stands)."""
    g = p.add_argument_group("Global options") if default is argparse.SUPPRESS else p
    g.add_argument(
        "--config",
        metavar="FILE",
        default=default,
        help="configuration file (default: $POLLERFLEET_CONFIG or /etc/pollerfleet/fleet.toml)",
    )
    g.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0 if default is None else default,
        help="on stderr: -v more words, -vv every request (method, URL, status, time), -vvv tracebacks",
    )


def add_inventory_options(p: argparse.ArgumentParser, hosts: bool = False, group: bool = False) -> Any:
    """Which inventory hosts a command is about: --host (repeatable) and --group, or --inventory FILE."""
    g = p.add_argument_group("Inventory")
    if hosts:
        g.add_argument("--host", action="append", metavar="HOST", help="only this inventory host (repeatable)")
    if group:
        g.add_argument("--group", metavar="GROUP", help="another inventory group than [fleet] group")
    if not (hosts or group):
        g.add_argument("--inventory", metavar="FILE", help="the Ansible inventory (default: [fleet] inventory)")
    return g


def add_timeout_options(p: argparse.ArgumentParser, host_timeout: bool = False) -> Any:
    """-t (per Docker call), --host-timeout (all of one host) and --workers (hosts asked at once)."""
    g = p.add_argument_group("Timeouts and concurrency")
    g.add_argument(
        "-t",
        "--timeout",
        type=positive_float,
        default=10.0,
        metavar="SECONDS",
        help="per Docker call of a host (default: %(default)s)",
    )
    if host_timeout:
        g.add_argument(
            "--host-timeout",
            type=positive_float,
            default=None,
            metavar="SECONDS",
            help="all of one host (every call, the registry too); a later host is UNKNOWN (default: 3 x -t)",
        )
    g.add_argument("--workers", type=int, default=50, help="hosts asked at once (default: %(default)s)")
    return g


def add_output_options(p: argparse.ArgumentParser, json_help: str, colour_help: str) -> Any:
    """--json for machines, --no-colour (--no-color) for a terminal that wants none."""
    g = p.add_argument_group("Output")
    g.add_argument("--json", action="store_true", help=json_help)
    g.add_argument("--no-colour", "--no-color", dest="no_colour", action="store_true", help=colour_help)
    return g


def add_request_options(p: argparse.ArgumentParser) -> Any:
    """A request to Jenkins (redeploy, rebuild): --dry-run, --wait and its hidden --wait-timeout."""
    g = p.add_argument_group("Request")
    g.add_argument("--dry-run", action="store_true", help="decide and log, trigger nothing")
    g.add_argument("--wait", action="store_true", help="follow the build to its result")
    g.add_argument("--wait-timeout", type=positive_float, default=3600, metavar="SECONDS", help=argparse.SUPPRESS)
    return g


def service(text: str) -> str:
    """A service description as it goes into the engine's command pipe: no ';', no control characters."""
    problem = command_field_problem(text, "service name")
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return text
