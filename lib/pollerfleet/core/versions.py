"""Which registry tags are releases, and which is newest: the fleet's version policy.

Tags are versions (``19.04.5``), optionally with a build number (``19.04.5-3``: the third image
built of 19.04.5) and a ``v`` prefix. Tags that are not versions (``latest``, ``dev``,
``sha-1a2b3c``) are ignored. Versions compare as numbers, part by part: ``19.04.10`` is newer
than ``19.04.5`` (string sorting gets this wrong; so does Go's semver, which rejects the leading
zero of ``04``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from packaging.version import InvalidVersion, Version

_TAG = re.compile(r"v?(?P<version>\d+(?:\.\d+){0,3})(?:-(?P<build>\d+))?")


@dataclass(frozen=True, order=True)
class TagVersion:
    """A tag read as a release: ordered by version, then build number."""

    version: Version
    build: int
    tag: str

    @property
    def release(self) -> str:
        """The engine release as tagged, without prefix or build number: 19.04.5 for v19.04.5-3."""
        return self.tag.strip().lstrip("v").split("-")[0]


def parse_tag(tag: str) -> Optional[TagVersion]:
    m = _TAG.fullmatch(tag.strip())
    if not m:
        return None
    try:
        version = Version(m.group("version"))
    except InvalidVersion:
        return None
    return TagVersion(version, int(m.group("build") or 0), tag)


@dataclass(frozen=True)
class Policy:
    """Which tags count: include/exclude regular expressions and an optional release line."""

    include: str = ""
    exclude: str = ""
    release_line: str = ""  # e.g. "19.04": only 19.04.*

    def __post_init__(self) -> None:
        for name in ("include", "exclude"):
            pattern = getattr(self, name)
            if pattern:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise ValueError(f"{name} pattern {pattern!r} is not a regular expression: {exc}") from None
        if self.release_line and not re.fullmatch(r"\d+(\.\d+)*", self.release_line):
            raise ValueError(f"release line {self.release_line!r} must look like 19.04")

    def admits(self, tv: TagVersion) -> bool:
        if self.include and not re.search(self.include, tv.tag):
            return False
        if self.exclude and re.search(self.exclude, tv.tag):
            return False
        if self.release_line:
            want = [int(p) for p in self.release_line.split(".")]
            if list(tv.version.release[: len(want)]) != want:
                return False
        return True

    def releases(self, tags: list[str]) -> list[TagVersion]:
        """The admitted version tags, oldest first."""
        return sorted(tv for tv in (parse_tag(t) for t in tags) if tv is not None and self.admits(tv))

    def newest(self, tags: list[str]) -> Optional[TagVersion]:
        found = self.releases(tags)
        return found[-1] if found else None


def releases_newer(found: list[TagVersion], running: TagVersion) -> list[str]:
    """Distinct releases (build numbers folded) newer than the running one, oldest first."""
    out: list[str] = []
    for tv in found:
        if tv.version > running.version and tv.release not in out:
            out.append(tv.release)
    return out
