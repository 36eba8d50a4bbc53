"""Validation of what reaches Jenkins, a shell, a path or the engine's command pipe (host names,
service names, versions), and the one filter every piece of remote text passes through."""

from __future__ import annotations

import re

_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")  # C0 (ESC, BEL, CR, LF, TAB ...), DEL, C1
_VERSION = re.compile(r"v?\d+(\.\d+){1,3}(-\d+)?")


def valid_hostname(name: str) -> bool:
    """An RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens."""
    if not isinstance(name, str) or not name or len(name) > 253 or name.endswith("."):
        return False
    return all(_LABEL.fullmatch(label) for label in name.split("."))


def valid_version(text: str) -> bool:
    """A release version as the images are tagged: 19.04.5, 19.04.5-3, v19.04.5."""
    return isinstance(text, str) and len(text) <= 64 and bool(_VERSION.fullmatch(text))


def plain(text: object) -> str:
    """Remote text (a health check's output, a daemon's or registry's error, a build log line) as
    it may reach a status line, the engine's command pipe or a terminal: each run of control
    characters (escape sequences, bells, line breaks) becomes one space."""
    return _CONTROL.sub(" ", str(text)) if _CONTROL.search(str(text)) else str(text)


def command_field_problem(text: str, what: str) -> str:
    """Why TEXT cannot be one field of an engine external command ('' when it can): a ';' or a
    line break would let it forge fields or whole commands."""
    if not text or not text.strip():
        return f"the {what} is empty"
    if ";" in text or _CONTROL.search(text):
        return f"the {what} {printable(text)!r} contains ';' or a control character"
    return ""


def printable(text: str, limit: int = 80) -> str:
    """A refused value as it may be shown in a log line: no control characters, bounded."""
    shown = "".join(c if c.isprintable() else "?" for c in str(text))
    return shown[:limit] + ("..." if len(shown) > limit else "")
