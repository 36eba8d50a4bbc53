"""What every HTTP answer from a remote peer (registry, Jenkins, upstream repository) must obey,
in one place: no redirect from https to plain http, a bounded body, a scheme compared as URLs
compare it (case-insensitively), an origin compared by scheme, host and port.

requests is imported only by the functions that need it: a check answered from the cache never
imports it.
"""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing at a plugin's start-up
if TYPE_CHECKING:
    from typing import Any, Optional

    import requests

CHUNK = 64 * 1024
DEFAULT_PORTS = {"http": 80, "https": 443}


class PeerRefused(Exception):
    """A peer's answer was refused (a downgrading redirect, a body past the bound); str() is the
    operator's one line. Not a requests exception: each client turns it into its own error."""


def scheme(url: str) -> str:
    """The URL's scheme, lower case ('' when it names none): ``HTTP://`` is http."""
    return urlsplit(url).scheme.lower() if "://" in url else ""


def origin(url: str) -> tuple[str, str, Optional[int]]:
    """(scheme, host, port) with the scheme's default port filled in, all as URLs compare them."""
    parts = urlsplit(url)
    s = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = -1  # an unparsable port matches nothing
    return s, (parts.hostname or "").lower(), port if port is not None else DEFAULT_PORTS.get(s)


def shown(url: str) -> str:
    """scheme://host:port of URL, for a message (never a path, a query or credentials)."""
    s, host, port = origin(url)
    return f"{s}://{host}:{port}" if port is not None else f"{s}://{host}"


def guard(session: requests.Session, max_body: Optional[int]) -> requests.Session:
    """Make SESSION refuse a redirect from https to another scheme and, for every answer not
    read as a stream, a body larger than MAX_BODY bytes (None: the caller bounds its streams)."""

    def check(resp: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        if resp.is_redirect:
            target = urljoin(resp.url, resp.headers.get("location", ""))
            if scheme(resp.url) == "https" and scheme(target) != "https":
                resp.close()
                raise PeerRefused(
                    f"{shown(resp.url)} redirected to {shown(target)}: a redirect from https to plain HTTP is refused"
                )
        if max_body is not None and not kwargs.get("stream"):
            read_bounded(resp, max_body)
        return resp

    session.hooks["response"].append(check)
    return session


def read_bounded(resp: requests.Response, limit: int) -> bytes:
    """Read RESP's whole body (decoded) into it, or raise PeerRefused past LIMIT bytes."""
    if getattr(resp, "_content_consumed", False):
        return bytes(resp.content or b"")
    declared = resp.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        resp.close()
        raise PeerRefused(too_large(resp.url, limit))
    data = bytearray()
    for chunk in resp.iter_content(CHUNK):
        data += chunk
        if len(data) > limit:
            resp.close()
            raise PeerRefused(too_large(resp.url, limit))
    resp._content = bytes(data)
    resp._content_consumed = True  # type: ignore[attr-defined]
    return resp._content


def too_large(url: str, limit: int) -> str:
    return f"{shown(url)} sent more than {mib(limit)} in one answer: refused"


def mib(limit: int) -> str:
    return f"{limit / (1024 * 1024):g} MiB" if limit >= 1024 * 1024 else f"{limit} bytes"
