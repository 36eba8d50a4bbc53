"""Event handlers the monitoring engine runs on state changes. They never raise: every outcome,
including a bad call or Jenkins being down, is one line on stdout and one JSON line in the audit
log."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import traceback
from collections.abc import Iterator
from typing import Any, Callable, NoReturn, Optional

from pollerfleet import __version__
from pollerfleet.actions.decide import Action
from pollerfleet.actions.redeploy import Decision, Redeployer, report
from pollerfleet.core import config, verbosity
from pollerfleet.core.exits import Exit
from pollerfleet.core.names import printable
from pollerfleet.core.optionword import FromTheCommandLine, OptionWordParser

STATES = ("OK", "WARNING", "CRITICAL", "UNKNOWN")


class Deadline(BaseException):
    """The handler's own deadline passed. A BaseException, as KeyboardInterrupt is: no client's
    ``except Exception`` can swallow it on the way out."""


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Raise Deadline in this (main) thread once SECONDS have passed, wherever it is waiting."""

    def ring(signum: int, frame: Any) -> None:
        raise Deadline

    previous = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class _HandlerParser(OptionWordParser):
    """The handler's options, HANDLEROPTIONS as one word too (``--options '--dry-run'``); a refused
    call raises ValueError, which the handler logs and audits."""

    engine_usage = ""  # how the engine calls it: the macros, in order

    def fail(self, message: str) -> NoReturn:
        raise ValueError(message)


def _parser(prog: str, description: str, macros: list[tuple[str, str]]) -> _HandlerParser:
    p = _HandlerParser(prog=prog, description=description)
    p.engine_usage = " ".join([prog, *(name for name, _ in macros)])
    p.add_argument("-V", "--version", action="version", version=f"%(prog)s {__version__}")
    for name, help_text in macros:
        p.add_argument(name.lower(), metavar=name, help=help_text)
    p.add_argument("--config", action=FromTheCommandLine, metavar="FILE", help="configuration file")
    p.add_argument("--dry-run", action="store_true", help="decide and log, trigger nothing")
    p.add_argument(
        "-v", "--verbose", action="count", default=0, help="on stderr: -v more words, -vv requests, -vvv tracebacks"
    )
    return p


_STATE_MACROS = [
    ("STATE", "OK, WARNING, CRITICAL or UNKNOWN"),
    ("STATETYPE", "SOFT or HARD"),
    ("ATTEMPT", "the check attempt number"),
]


def redeploy_parser() -> _HandlerParser:
    return _parser(
        "handle_poller_redeploy",
        "Event handler of the image service: ask Jenkins to redeploy a poller whose image is stale. "
        "Engine macros: $SERVICESTATE$ $SERVICESTATETYPE$ $SERVICEATTEMPT$ $HOSTNAME$",
        [*_STATE_MACROS, ("HOSTNAME", "the poller's Docker host, as named in the inventory")],
    )


def rebuild_parser() -> _HandlerParser:
    return _parser(
        "handle_engine_rebuild",
        "Event handler of the release service: ask Jenkins to build the poller image of the newest "
        "centreon-engine release that has none. Engine macros: $SERVICESTATE$ $SERVICESTATETYPE$ "
        "$SERVICEATTEMPT$",
        _STATE_MACROS,
    )


def _run(
    kind: str,
    argv: Optional[list[str]],
    parser: _HandlerParser,
    macros: int,
    act: Callable[[argparse.Namespace, config.Config, str], tuple[Any, Decision]],
) -> int:
    """Parse the engine's call, load the config, act, audit and print; never raise."""
    try:
        words = list(argv or [])
        if len(words) >= macros and words[0].upper() in STATES:
            # the engine passes its macros first: take them literally, even one that looks like an option
            words = [*words[macros:], "--", *words[:macros]]
        try:
            args = parser.parse_args(words)
        except ValueError as exc:
            decision = Decision("", Action.REFUSED, f"{exc} (usage: {parser.engine_usage})", kind=kind)
            _audit_misuse(decision, words)
            print(decision.line)
            return Exit.NOT_JUDGED
        verbosity.setup(args.verbose, sys.stderr)
        label = f"{args.state.upper()} {args.statetype.upper()} attempt {args.attempt}"
        try:
            cfg = config.load(args.config)
        except config.ConfigError as exc:
            print(f"{kind} {getattr(args, 'hostname', '')}: error: {exc}".replace("  ", " "))
            return Exit.FAILED
        limit = cfg.redeploy.handler_deadline
        try:
            with deadline(limit):
                actor, decision = act(args, cfg, label)
        except Deadline:
            actor = _AuditOnly(cfg)
            decision = Decision(
                getattr(args, "hostname", "(newest)"),
                Action.ERROR,
                f"gave up at the handler's deadline of {limit:g} s ([redeploy] handler_deadline, kept below the "
                "engine's event_handler_timeout)",
                state=label,
                kind=kind,
            )
        report(
            actor,
            decision,
            print,
            lambda warning: print(f"{kind}: warning: {warning}", file=sys.stderr),
            statetype=args.statetype,
            attempt=args.attempt,
            dry_run=args.dry_run,
        )
        return Exit.DONE
    except SystemExit as exc:  # --help / --version
        return int(exc.code or 0)
    except BaseException as exc:  # noqa: BLE001 - an event handler must never die with a traceback
        print(f"{kind}: error: internal error: {type(exc).__name__}: {exc}")
        if verbosity.level() >= 3:
            traceback.print_exc(file=sys.stderr)
        return Exit.FAILED


class _AuditOnly:
    """What is left to do once the deadline passed: audit the decision, nothing else."""

    def __init__(self, cfg: config.Config) -> None:
        from pollerfleet.actions.state import AuditLog

        self.audit = AuditLog(cfg.fleet.audit_log)
        self.events: list[Decision] = []

    def log(self, decision: Decision, **extra: Any) -> Optional[str]:
        return self.audit.write(decision, **extra)


def handle_redeploy(argv: Optional[list[str]] = None) -> int:
    """handle_poller_redeploy STATE STATETYPE ATTEMPT HOSTNAME; 0 unless it was misused."""

    def act(args: argparse.Namespace, cfg: config.Config, label: str) -> tuple[Any, Decision]:
        r = Redeployer(cfg)
        return r, _decide_redeploy(
            r, args.hostname, args.state.upper(), args.statetype.upper(), args.attempt, label, args.dry_run
        )

    return _run("redeploy", argv, redeploy_parser(), 4, act)


def handle_rebuild(argv: Optional[list[str]] = None) -> int:
    """handle_engine_rebuild STATE STATETYPE ATTEMPT; 0 unless it was misused."""

    def act(args: argparse.Namespace, cfg: config.Config, label: str) -> tuple[Any, Decision]:
        from pollerfleet.actions.rebuild import Rebuilder

        r = Rebuilder(cfg)
        if args.state.upper() not in ("WARNING", "CRITICAL") or args.statetype.upper() != "HARD":
            return r, Decision(
                "(newest)",
                Action.IGNORED,
                f"{label}: only a HARD WARNING or CRITICAL triggers a rebuild",
                state=label,
                kind="rebuild",
            )
        return r, r.request(dry_run=args.dry_run, state=label)

    return _run("rebuild", argv, rebuild_parser(), 3, act)


def _decide_redeploy(
    r: Redeployer, host: str, state: str, statetype: str, attempt: str, label: str, dry_run: bool
) -> Decision:
    def ignored(reason: str) -> Decision:
        return Decision(host, Action.IGNORED, reason, state=label)

    if state not in STATES or statetype not in ("SOFT", "HARD") or not attempt.isdigit():
        return Decision(host, Action.REFUSED, f"not an engine state: {label!r}", state=label)
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
