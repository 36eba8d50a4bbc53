"""Validation of what reaches Jenkins, a shell or a path: host names and versions."""

from __future__ import annotations

import re

_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
_VERSION = re.compile(r"v?\d+(\.\d+){1,3}(-\d+)?")


def valid_hostname(name: str) -> bool:
    """An RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens."""
    if not isinstance(name, str) or not name or len(name) > 253 or name.endswith("."):
        return False
    return all(_LABEL.fullmatch(label) for label in name.split("."))


def valid_version(text: str) -> bool:
    """A release version as the images are tagged: 19.04.5, 19.04.5-3, v19.04.5."""
    return isinstance(text, str) and len(text) <= 64 and bool(_VERSION.fullmatch(text))


def printable(text: str, limit: int = 80) -> str:
    """A refused value as it may be shown in a log line: no control characters, bounded."""
    shown = "".join(c if c.isprintable() else "?" for c in str(text))
    return shown[:limit] + ("..." if len(shown) > limit else "")
