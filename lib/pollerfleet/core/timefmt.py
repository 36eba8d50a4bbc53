"""Times as Docker and registries write them, and durations as operators read them."""

from __future__ import annotations

import re
from datetime import datetime

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing at a plugin's start-up
if TYPE_CHECKING:
    from typing import Any, Optional

_TS = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def parse_timestamp(value: Any) -> Optional[datetime]:
    """Docker's RFC 3339 times carry nanoseconds; Python takes microseconds. Zero time -> None."""
    if not isinstance(value, str):
        return None
    m = _TS.match(value.strip())
    if not m or value.startswith("0001-01-01"):
        return None
    frac = (m.group(2) or ".0")[1:7].ljust(6, "0")
    zone = "+00:00" if m.group(3) == "Z" else m.group(3)
    return datetime.fromisoformat(f"{m.group(1)}.{frac}{zone}")


def epoch(value: Any) -> Optional[float]:
    ts = parse_timestamp(value)
    return ts.timestamp() if ts else None


def human_duration(seconds: float) -> str:
    """3d4h, 2h5m, 4m10s, 12s: the two largest units, as operators read uptimes."""
    s = int(seconds)
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if s >= size or (unit == "s" and not parts):
            parts.append(f"{s // size}{unit}")
            s %= size
        if len(parts) == 2:
            break
    return "".join(parts)
