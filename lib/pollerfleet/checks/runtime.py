"""What every plugin shares: option parsing that never exits 2, Docker options, the guarded run.

Monitoring Plugins rules: one status line, exit 0-3. argparse exits 2 on a bad option and
nagiosplugin prints a traceback on an unexpected exception; both are turned into UNKNOWN here.
"""

from __future__ import annotations

import argparse
import functools
import math
import re
import signal
import sys
import time
import traceback
from collections.abc import Callable

import nagiosplugin

from pollerfleet import __version__
from pollerfleet.clients.docker import DockerClient, UsageError, endpoint_for
from pollerfleet.core import config, verbosity
from pollerfleet.core.exits import State
from pollerfleet.core.optionword import FromTheCommandLine, OptionWordParser

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing at a plugin's start-up
if TYPE_CHECKING:
    from typing import Any, NoReturn, TypeVar

    F = TypeVar("F", bound=Callable[..., Any])
    Q = TypeVar("Q")

UNKNOWN = State.UNKNOWN


class PluginParser(OptionWordParser):
    """An ArgumentParser whose errors are UNKNOWN status lines (exit 3), not argparse's exit 2.
    It takes the options of a Centreon macro as one word, ``--options '...'`` (core.optionword)."""

    def __init__(self, label: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.label = label
        self.add_argument("-V", "--version", action="version", version=f"%(prog)s {__version__}")

    def fail(self, message: str) -> NoReturn:
        unknown(self.label, message, self.format_usage().strip())

    def parse_args(self, *args: Any, **kwargs: Any) -> Any:
        ns = super().parse_args(*args, **kwargs)
        # -v/-vv/-vvv: the suite's log goes where nagiosplugin puts its own, after the status line
        verbosity.setup(getattr(ns, "verbose", 0), _log_stream())
        if isinstance(getattr(ns, "timeout", None), float):
            ns.deadline = time.monotonic() + ns.timeout  # -t counts from here (armed by load_config)
        return ns


def _arm_deadline(args: argparse.Namespace) -> None:
    """-t bounds the whole run, reading the config too, not only the check itself. Armed by the
    plugin's first step (load_config), not by parsing: parsing alone (tests, tools) starts no alarm."""
    left = _remaining(args)

    def expired(signum: int, frame: Any) -> None:
        raise nagiosplugin.Timeout(f"{args.timeout:g} s")

    signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, max(0.001, left))


def _remaining(args: argparse.Namespace) -> float:
    deadline = getattr(args, "deadline", None)
    return float(args.timeout) if deadline is None else float(deadline - time.monotonic())


def _log_stream() -> Any:
    return nagiosplugin.Runtime().logchan.stream


def unknown(label: str, reason: str, detail: str = "") -> NoReturn:
    """Print one UNKNOWN status line (and optional long output, and the -v log), exit 3."""
    reason = " ".join(str(reason).split())
    logged = _log_stream().getvalue().rstrip("\n") if verbosity.level() else ""
    more = "\n".join(part for part in (detail, logged) if part)
    sys.stdout.write(f"{label} UNKNOWN - {reason}\n" + (more + "\n" if more else ""))
    sys.stdout.flush()
    raise SystemExit(UNKNOWN)


_NUM = r"[-+]?(\d+(\.\d*)?|\.\d+)"
# compiled on the first range given (re caches it), not at every plugin's start-up
_RANGE = rf"@?(({_NUM}|~):({_NUM})?|{_NUM}|:{_NUM})"


def range_arg(text: str) -> str:
    """argparse type for a Monitoring Plugins threshold range; '' means no threshold."""
    if text == "":
        return text
    try:
        if not re.fullmatch(_RANGE, text):
            raise ValueError(text)
        nagiosplugin.Range(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid range {text!r} (examples: 10, 5:, ~:10, 10:20, @10:20)") from None
    return text


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number of seconds")
    return value


def query_from(cls: type[Q], args: Any, **given: Any) -> Q:
    """A check's typed query from parsed options: each field from the option of the same name
    (absent options keep the field's default); GIVEN wins."""
    from pollerfleet.core.record import fields  # a record's or a dataclass's, without importing dataclasses

    values = {f.name: getattr(args, f.name) for f in fields(cls) if hasattr(args, f.name)}
    return cls(**{**values, **given})


def add_common_options(parser: argparse.ArgumentParser, docker: bool = True) -> None:
    """The options every plugin takes: an interface the command definitions in commands/ rely on."""
    parser.add_argument(
        "-t",
        "--timeout",
        type=positive_float,
        default=10.0,
        metavar="SECONDS",
        help="give up after this many seconds (default: %(default)s)",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="-v: the reason in more words; -vv: also every request (method, URL, status, time); "
        "-vvv: also the traceback of an internal error",
    )
    parser.add_argument(
        "--config",
        action=FromTheCommandLine,
        metavar="FILE",
        help="configuration file (default: $POLLERFLEET_CONFIG or /etc/pollerfleet/fleet.toml)",
    )
    if not docker:
        return
    parser.add_argument(
        "-H",
        "--host",
        "--hostname",
        metavar="HOST",
        help="Docker host; means tcp://HOST:2376 with TLS unless --docker-url",
    )
    parser.add_argument(
        "--docker-url", metavar="URL", help="Docker API URL: unix:///path, tcp://HOST:PORT or ssh://[USER@]HOST"
    )
    parser.add_argument(
        "--tls-dir", metavar="DIR", help="directory with ca.pem, cert.pem and key.pem (as docker --tlsverify)"
    )
    parser.add_argument(
        "--no-tls", action="store_true", help="allow plain, unencrypted tcp:// (the daemon is root on its host)"
    )


def load_config(label: str, args: argparse.Namespace) -> config.Config:
    if isinstance(getattr(args, "timeout", None), float):
        _arm_deadline(args)
    try:
        cfg = config.load(args.config)
    except config.ConfigError as exc:
        unknown(label, str(exc))
    except nagiosplugin.Timeout:  # a FIFO nobody writes, a hung network mount
        path, _ = config.resolve_path(args.config)
        unknown(label, f"config file {path} could not be read within {args.timeout:g} s (-t)")
    verbosity.log.info("configuration: %s", cfg.path or "built-in defaults (no config file)")
    return cfg


def docker_client(label: str, args: argparse.Namespace, cfg: config.Config) -> DockerClient:
    """The Docker client the options and the config describe; bad options -> UNKNOWN."""
    tls_dir = args.tls_dir or (str(cfg.docker.tls_dir) if cfg.docker.tls_dir else None)
    try:
        endpoint = endpoint_for(
            args.host,
            args.docker_url,
            tls_dir,
            no_tls=args.no_tls or not cfg.docker.tls,
            port=cfg.docker.port,
            timeout=args.timeout,
            api_version=cfg.docker.api_version,
            ssh_config=cfg.docker.ssh_config,
        )
    except UsageError as exc:
        unknown(label, str(exc))
    verbosity.log.info(
        "docker: %s (%s), each call bounded by %g s",
        endpoint,
        f"TLS with ca.pem, cert.pem, key.pem from {endpoint.tls.directory}" if endpoint.tls else "no TLS",
        endpoint.timeout,
    )
    return DockerClient(endpoint)


def run_check(check: nagiosplugin.Check, label: str, args: argparse.Namespace) -> NoReturn:
    """Run the check under nagiosplugin's runtime with -t as its time bound."""
    check.name = label
    left = _remaining(args)
    if left <= 0:
        unknown(label, f"no answer within {args.timeout:g} s (-t)")
    try:  # nagiosplugin's own alarm (whole seconds) takes over from ours for what is left of -t
        check.main(verbose=args.verbose, timeout=max(1, math.ceil(left)))
    except nagiosplugin.Timeout:
        unknown(label, f"no answer within {args.timeout:g} s (-t)")
    raise SystemExit(UNKNOWN)  # check.main() always exits; this only satisfies the type


def guarded(label: str) -> Callable[[F], F]:
    """Like nagiosplugin.guarded, but an unexpected error is one UNKNOWN line, no traceback."""

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return func(*args, **kwargs)
            except SystemExit:
                raise
            except KeyboardInterrupt:
                unknown(label, "interrupted")
            except nagiosplugin.Timeout as exc:
                unknown(label, f"no answer within {exc} (-t)")
            except config.ConfigError as exc:  # e.g. a secret file others can read, found while checking
                unknown(label, str(exc))
            except Exception as exc:  # noqa: BLE001 - the one place that turns anything into UNKNOWN
                trace = traceback.format_exc().rstrip("\n") if verbosity.level() >= 3 else ""
                unknown(label, f"internal error: {type(exc).__name__}: {exc}", trace)

        return wrapper  # type: ignore[return-value]

    return decorate
