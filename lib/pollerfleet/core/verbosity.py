"""How much the plugins, the handlers and ``pollerfleet`` say, the same way everywhere.

``-v`` says the reason in more words (which endpoint, which file, which rule), ``-vv`` adds one
line per request to the outside world (method, URL, status, time), ``-vvv`` adds the traceback of
an internal error. Every client reports its requests here, in one place, so no client can forget
it and none can print a credential: only the method, the URL without its user, password or
secret query parameters, the status and the time are ever written.
"""

from __future__ import annotations

import logging
import time
import urllib.parse

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing at a plugin's start-up
if TYPE_CHECKING:
    from typing import IO, Any, Callable, Optional, TypeVar

    S = TypeVar("S")

log = logging.getLogger("pollerfleet")
_requests = logging.getLogger("pollerfleet.requests")
_SECRET_PARAMS = ("token", "password", "passwd", "secret", "key", "signature", "auth")


#: The verbosity of this process (0-3), set once by the entry point (plugin, handler, CLI).
_level = 0


def level() -> int:
    return _level


def setup(verbose: int, stream: IO[str]) -> None:
    """Send the suite's log to STREAM at the level -v/-vv/-vvv asks for (nothing without -v)."""
    global _level
    _level = max(0, min(int(verbose or 0), 3))
    for h in list(log.handlers):
        if getattr(h, "_pollerfleet", False):
            log.removeHandler(h)
    log.propagate = False
    if _level == 0:
        log.setLevel(logging.CRITICAL + 1)
        return
    handler = logging.StreamHandler(stream)
    handler._pollerfleet = True  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO if _level == 1 else logging.DEBUG)


def redact(url: str) -> str:
    """URL without user/password and with the values of secret-looking query parameters hidden."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if not parts.netloc:  # unix:///path/docker.sock/... : nothing to hide, keep it as given
        return url
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if parts.port:
        netloc += f":{parts.port}"
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    if any(any(s in k.lower() for s in _SECRET_PARAMS) for k, _ in query):
        query = [(k, "***" if any(s in k.lower() for s in _SECRET_PARAMS) else v) for k, v in query]
        return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, urllib.parse.urlencode(query), ""))
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


def request(method: str, url: str, status: Optional[int], seconds: float, error: str = "") -> None:
    """One -vv line: ``GET https://registry:5000/v2/ -> 200 in 3.1 ms``."""
    if _requests.isEnabledFor(logging.DEBUG):
        outcome = str(status) if status is not None else f"failed ({error})"
        _requests.debug("%s %s -> %s in %.1f ms", method, redact(url), outcome, seconds * 1000)


def attach(session: S) -> S:
    """Report every request a ``requests.Session`` sends (redirects and retries included)."""
    send: Callable[..., Any] = session.send  # type: ignore[attr-defined]

    def logged_send(prepared: Any, **kwargs: Any) -> Any:
        start = time.monotonic()
        try:
            resp = send(prepared, **kwargs)
        except Exception as exc:
            request(str(prepared.method), str(prepared.url), None, time.monotonic() - start, type(exc).__name__)
            raise
        request(str(prepared.method), str(prepared.url), resp.status_code, time.monotonic() - start)
        return resp

    session.send = logged_send  # type: ignore[attr-defined]
    return session
