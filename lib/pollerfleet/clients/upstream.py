"""The upstream Centreon package repositories (RPM-md): which centreon-engine releases exist.

``repodata/repomd.xml`` names the ``primary`` data file; that file (gzip, xz or bzip2) is
streamed: downloaded in chunks, decompressed and parsed incrementally, so a primary file of tens
of megabytes is never held in memory whole, let alone twice. Downloads are bounded in bytes and
time; every failure is an UpstreamError with one line for the operator.
"""

from __future__ import annotations

import bz2
import hashlib
import lzma
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Callable, Optional
from urllib.parse import urljoin
from xml.etree import ElementTree

import requests

from pollerfleet.clients import peers
from pollerfleet.core import verbosity

REPO_NS = "{http://linux.duke.edu/metadata/repo}"
COMMON_NS = "{http://linux.duke.edu/metadata/common}"
CHUNK = 64 * 1024
PIECE = 256 * 1024  # at most this many decompressed bytes at a time


class UpstreamError(Exception):
    """The repository could not be read; str() is the operator's reason."""


def _segments(text: str) -> list[str]:
    return re.findall(r"\d+|[a-zA-Z]+|~", text)


def rpmvercmp(a: str, b: str) -> int:
    """Compare two version (or release) strings as rpm does: -1, 0, 1.

    Digits and letters form separate segments; numeric segments compare as numbers (leading zeros
    ignored), a numeric segment is newer than an alphabetic one, ``~`` sorts before anything.
    """
    if a == b:
        return 0
    sa, sb = _segments(a), _segments(b)
    for x, y in zip(sa, sb):
        if x == y:
            continue
        if x == "~" or y == "~":
            return -1 if x == "~" else 1
        if x.isdigit() and y.isdigit():
            diff = int(x) - int(y)
            if diff:
                return 1 if diff > 0 else -1
            continue
        if x.isdigit() != y.isdigit():
            return 1 if x.isdigit() else -1
        return 1 if x > y else -1
    if len(sa) == len(sb):
        return 0
    longer, sign = (sa, 1) if len(sa) > len(sb) else (sb, -1)
    return -sign if longer[min(len(sa), len(sb))] == "~" else sign


@dataclass(frozen=True)
class Package:
    """One package version in a repository."""

    name: str
    epoch: int
    version: str
    release: str
    time: Optional[float]  # when it was added to the repository (the rpm file's time)
    repo: str

    @property
    def evr(self) -> str:
        return f"{self.epoch}:{self.version}-{self.release}" if self.epoch else f"{self.version}-{self.release}"

    def newer_than(self, other: Package) -> bool:
        return compare(self, other) > 0


def compare(a: Package, b: Package) -> int:
    if a.epoch != b.epoch:
        return 1 if a.epoch > b.epoch else -1
    return rpmvercmp(a.version, b.version) or rpmvercmp(a.release, b.release)


def _decompressor(href: str) -> tuple[Callable[[bytes], Iterator[bytes]], Callable[[], bool], str]:
    """feed(chunk) -> the decompressed pieces, each at most PIECE bytes (a small chunk of a
    compression bomb never becomes one huge string), finished() -> bool, name; by the extension."""
    if href.endswith(".gz"):
        z = zlib.decompressobj(wbits=47)

        def gunzip(data: bytes) -> Iterator[bytes]:
            while data and not z.eof:
                yield z.decompress(data, PIECE)
                data = z.unconsumed_tail

        return gunzip, lambda: z.eof, "gzip"
    if href.endswith((".xz", ".bz2")):
        d: Any = lzma.LZMADecompressor() if href.endswith(".xz") else bz2.BZ2Decompressor()

        def inflate(data: bytes) -> Iterator[bytes]:
            if d.eof:
                return
            yield d.decompress(data, PIECE)
            while not d.eof and not d.needs_input:
                yield d.decompress(b"", PIECE)

        return inflate, lambda: d.eof, "xz" if href.endswith(".xz") else "bzip2"
    if href.endswith(".xml"):
        return (lambda data: iter((data,))), lambda: True, "uncompressed"
    raise UpstreamError(
        f"{href}: compression not supported (gzip, xz, bzip2 or plain XML are; zstd and zchunk are not)"
    )


class UpstreamRepo:
    """One RPM-md repository URL (the directory that holds repodata/)."""

    def __init__(self, url: str, timeout: float = 20.0, max_bytes: int = 200 * 1024 * 1024, verify: Any = True) -> None:
        self.url = url.rstrip("/") + "/"
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.verify = verify
        # every answer is read as a stream, bounded below; the guard refuses https -> http redirects
        self.session = verbosity.attach(peers.guard(requests.Session(), None))
        self.session.headers["User-Agent"] = "pollerfleet"

    def _get(self, href: str, what: str) -> requests.Response:
        url = urljoin(self.url, href)
        try:
            resp = self.session.get(url, timeout=self.timeout, stream=True, verify=self.verify)
        except peers.PeerRefused as exc:
            raise UpstreamError(f"{exc} ({what})") from None
        except requests.exceptions.SSLError:
            raise UpstreamError(f"TLS verification of {self.url} failed ({what})") from None
        except requests.exceptions.Timeout:
            raise UpstreamError(f"{self.url} did not answer within {self.timeout:g} s ({what})") from None
        except requests.exceptions.ConnectionError:
            raise UpstreamError(f"cannot connect to {self.url} ({what})") from None
        except requests.exceptions.RequestException as exc:
            raise UpstreamError(f"request to {self.url} failed ({what}): {type(exc).__name__}") from None
        if resp.status_code == 404:
            resp.close()
            raise UpstreamError(f"{url} does not exist (404) ({what})")
        if resp.status_code >= 400:
            resp.close()
            raise UpstreamError(f"{url} answered HTTP {resp.status_code} ({what})")
        return resp

    def _chunks(self, resp: requests.Response, what: str) -> Any:
        total = 0
        try:
            for chunk in resp.iter_content(CHUNK):
                total += len(chunk)
                if total > self.max_bytes:
                    raise UpstreamError(
                        f"{what} is larger than the {self.max_bytes // (1024 * 1024)} MiB download bound"
                    )
                yield chunk
        except requests.exceptions.RequestException as exc:
            raise UpstreamError(f"download of {what} from {self.url} broke off: {type(exc).__name__}") from None
        finally:
            resp.close()

    def primary_location(self) -> tuple[str, str]:
        """(href, sha256 or "") of the primary data file, from repodata/repomd.xml."""
        resp = self._get("repodata/repomd.xml", "repomd.xml")
        data = b"".join(self._chunks(resp, "repomd.xml"))
        try:
            root = ElementTree.fromstring(data)  # noqa: S314 - size-bounded; no DTD/entities are expanded by expat
        except ElementTree.ParseError as exc:
            raise UpstreamError(f"{self.url}repodata/repomd.xml is not valid XML: {exc}") from None
        for d in root.iter(f"{REPO_NS}data"):
            if d.get("type") == "primary":
                loc = d.find(f"{REPO_NS}location")
                href = loc.get("href") if loc is not None else None
                if not href:
                    break
                ck = d.find(f"{REPO_NS}checksum")
                digest = ck.text.strip() if ck is not None and ck.get("type") == "sha256" and ck.text else ""
                return href, digest
        raise UpstreamError(f"{self.url}repodata/repomd.xml names no primary data file")

    def packages(self, name: str) -> list[Package]:
        """Every version of package NAME in this repository."""
        href, digest = self.primary_location()
        feed, finished, kind = _decompressor(href)
        resp = self._get(href, href.rsplit("/", 1)[-1])
        parser: Any = ElementTree.XMLPullParser(events=("end",))
        hasher = hashlib.sha256()
        found: list[Package] = []
        inflated = 0
        try:
            for chunk in self._chunks(resp, href.rsplit("/", 1)[-1]):
                hasher.update(chunk)
                try:
                    for piece in feed(chunk):
                        inflated += len(piece)
                        if inflated > self.max_bytes:  # the bound is on what is parsed, not only what is sent
                            resp.close()
                            raise UpstreamError(
                                f"{href.rsplit('/', 1)[-1]} decompresses to more than the "
                                f"{self.max_bytes // (1024 * 1024)} MiB download bound"
                            )
                        parser.feed(piece)
                except (zlib.error, lzma.LZMAError, OSError, EOFError) as exc:
                    raise UpstreamError(f"{href} is not valid {kind} data: {exc}") from None
                self._collect(parser, name, found)
            if not finished():
                raise UpstreamError(f"{href} is truncated (the {kind} stream ends early)")
            parser.close()
            self._collect(parser, name, found)
        except ElementTree.ParseError as exc:
            raise UpstreamError(f"{href} is not valid primary XML: {exc}") from None
        if digest and hasher.hexdigest() != digest:
            raise UpstreamError(f"{href} does not match the sha256 in repomd.xml (a stale mirror or a damaged copy)")
        return found

    def _collect(self, parser: Any, name: str, found: list[Package]) -> None:
        elem: ElementTree.Element
        for _event, elem in parser.read_events():
            if elem.tag != f"{COMMON_NS}package":
                continue
            if elem.findtext(f"{COMMON_NS}name") == name:
                v = elem.find(f"{COMMON_NS}version")
                t = elem.find(f"{COMMON_NS}time")
                if v is not None and v.get("ver"):
                    found.append(
                        Package(
                            name,
                            int(v.get("epoch") or 0),
                            str(v.get("ver")),
                            str(v.get("rel") or ""),
                            float(t.get("file") or 0) if t is not None else None,
                            self.url,
                        )
                    )
            elem.clear()  # keep memory flat: each package is dropped once read
