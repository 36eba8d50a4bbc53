"""Event handlers the monitoring engine runs on state changes. They never raise: every outcome,
including a bad call or Jenkins being down, is one line on stdout and one JSON line in the audit
log."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn, Optional

from . import __version__, config
from .names import printable
from .redeploy import Decision, Redeployer

STATES = ("OK", "WARNING", "CRITICAL", "UNKNOWN")


class _HandlerParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise ValueError(message)


def redeploy_parser() -> argparse.ArgumentParser:
    p = _HandlerParser(
        prog="handle_poller_redeploy",
        description="Event handler of the image service: ask Jenkins to redeploy a poller whose image is stale. "
        "Engine macros: $SERVICESTATE$ $SERVICESTATETYPE$ $SERVICEATTEMPT$ $HOSTNAME$",
    )
    p.add_argument("-V", "--version", action="version", version=f"%(prog)s {__version__}")
    p.add_argument("state", metavar="STATE", help="OK, WARNING, CRITICAL or UNKNOWN")
    p.add_argument("statetype", metavar="STATETYPE", help="SOFT or HARD")
    p.add_argument("attempt", metavar="ATTEMPT", help="the check attempt number")
    p.add_argument("hostname", metavar="HOSTNAME", help="the poller's Docker host, as named in the inventory")
    p.add_argument("--config", metavar="FILE", help="configuration file")
    p.add_argument("--dry-run", action="store_true", help="decide and log, trigger nothing")
    return p


def handle_redeploy(argv: Optional[list[str]] = None) -> int:
    """Entry point of handle_poller_redeploy; returns the exit status (0 unless it was misused)."""
    try:
        return _handle_redeploy(argv)
    except SystemExit as exc:  # --help / --version
        return int(exc.code or 0)
    except BaseException as exc:  # noqa: BLE001 - an event handler must never die with a traceback
        print(f"redeploy: error: internal error: {type(exc).__name__}: {exc}")
        return 1


def _handle_redeploy(argv: Optional[list[str]]) -> int:
    argv = list(argv or [])
    if len(argv) >= 4 and argv[0].upper() in STATES:
        # The engine passes its four macros first: take them literally, even one that looks like an option.
        argv = [*argv[4:], "--", *argv[:4]]
    try:
        args = redeploy_parser().parse_args(argv)
    except ValueError as exc:
        decision = Decision(
            "",
            "refused",
            f"{exc} (usage: handle_poller_redeploy STATE STATETYPE ATTEMPT HOSTNAME)",
        )
        _audit_misuse(decision, argv or [])
        print(decision.line)
        return 3
    state, statetype = args.state.upper(), args.statetype.upper()
    label = f"{state} {statetype} attempt {args.attempt}"
    try:
        cfg = config.load(args.config)
    except config.ConfigError as exc:
        print(f"redeploy {args.hostname}: error: {exc}")
        return 1
    redeployer = Redeployer(cfg)
    decision = _decide(redeployer, args.hostname, state, statetype, args.attempt, label, args.dry_run)
    problem = redeployer.log(decision, statetype=statetype, attempt=args.attempt, dry_run=args.dry_run)
    print(decision.line)
    if problem:
        print(f"redeploy: warning: {problem}", file=sys.stderr)
    return 0


def _decide(r: Redeployer, host: str, state: str, statetype: str, attempt: str, label: str, dry_run: bool) -> Decision:
    def ignored(reason: str) -> Decision:
        return Decision(host, "ignored", reason, state=label)

    if state not in STATES or statetype not in ("SOFT", "HARD") or not attempt.isdigit():
        return Decision(host, "refused", f"not an engine state: {label!r}", state=label)
    if state == "OK":
        return r.record_recovery(host, state=label)
    if state != "CRITICAL":
        return ignored(f"{state} does not trigger a redeploy (only CRITICAL does)")
    soft_from = r.rules.soft_attempt
    if statetype == "SOFT" and not (soft_from and int(attempt) >= soft_from):
        return ignored(
            f"SOFT attempt {attempt}: waiting for the HARD state"
            + (f" (or SOFT attempt {soft_from})" if soft_from else "")
        )
    return r.request(host, dry_run=dry_run, state=label)


def _audit_misuse(decision: Decision, argv: list[str]) -> None:
    """A call the parser refused is still audited, with the config it named if it named one."""
    named = None
    for i, word in enumerate(argv):
        if word == "--config" and i + 1 < len(argv):
            named = argv[i + 1]
        elif word.startswith("--config="):
            named = word.split("=", 1)[1]
    try:
        cfg = config.load(named)
    except config.ConfigError:
        return
    Redeployer(cfg).log(decision, argv=[printable(a) for a in argv])


def rebuild_parser() -> argparse.ArgumentParser:
    p = _HandlerParser(
        prog="handle_engine_rebuild",
        description="Event handler of the release service: ask Jenkins to build the poller image of the newest "
        "centreon-engine release that has none. Engine macros: $SERVICESTATE$ $SERVICESTATETYPE$ $SERVICEATTEMPT$",
    )
    p.add_argument("-V", "--version", action="version", version=f"%(prog)s {__version__}")
    p.add_argument("state", metavar="STATE")
    p.add_argument("statetype", metavar="STATETYPE")
    p.add_argument("attempt", metavar="ATTEMPT")
    p.add_argument("--config", metavar="FILE", help="configuration file")
    p.add_argument("--dry-run", action="store_true", help="decide and log, trigger nothing")
    return p


def handle_rebuild(argv: Optional[list[str]] = None) -> int:
    """Entry point of handle_engine_rebuild; never raises."""
    try:
        return _handle_rebuild(list(argv or []))
    except SystemExit as exc:
        return int(exc.code or 0)
    except BaseException as exc:  # noqa: BLE001 - an event handler must never die with a traceback
        print(f"rebuild: error: internal error: {type(exc).__name__}: {exc}")
        return 1


def _handle_rebuild(argv: list[str]) -> int:
    from .rebuild import Rebuilder

    if len(argv) >= 3 and argv[0].upper() in STATES:
        argv = [*argv[3:], "--", *argv[:3]]
    try:
        args = rebuild_parser().parse_args(argv)
    except ValueError as exc:
        print(f"rebuild: refused: {exc} (usage: handle_engine_rebuild STATE STATETYPE ATTEMPT)")
        return 3
    state, statetype = args.state.upper(), args.statetype.upper()
    label = f"{state} {statetype} attempt {args.attempt}"
    try:
        cfg = config.load(args.config)
    except config.ConfigError as exc:
        print(f"rebuild: error: {exc}")
        return 1
    r = Rebuilder(cfg)
    if state not in ("WARNING", "CRITICAL") or statetype != "HARD":
        decision = Decision(
            "(newest)",
            "ignored",
            f"{label}: only a HARD WARNING or CRITICAL triggers a rebuild",
            state=label,
            kind="rebuild",
        )
    else:
        decision = r.request(dry_run=args.dry_run, state=label)
    problem = r.log(decision, dry_run=args.dry_run)
    print(decision.line)
    if problem:
        print(f"rebuild: warning: {problem}", file=sys.stderr)
    return 0
