"""The central's promotion bookkeeping (docs/architecture.md, "Canary promotion"): per candidate
digest, the soak of each canary and, once blocked, why and by which host. The promoted image and
the blocks themselves are registry tags (read by the Jenkins agent too); this file holds what only
the central needs, and a block from the moment it is decided until its tag exists."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pollerfleet.core import files

KEPT = 20  # candidates remembered (the newest by their first sighting)


class PromotionStateError(Exception):
    """The file exists but is not what this suite writes: promotion decides nothing on it."""


class PromotionState:
    """``promotion-state.json`` in the state directory: {"candidates": {digest: {...}}}."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / "promotion-state.json"

    def load(self) -> dict[str, dict[str, Any]]:
        try:
            raw = files.read_checked(self.path)
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise PromotionStateError(
                f"the promotion state {self.path} cannot be read: {exc.strerror or exc}"
            ) from None
        try:
            doc = json.loads(raw.decode("utf-8"))
            candidates = doc.get("candidates", {})
            if not isinstance(candidates, dict) or not all(isinstance(v, dict) for v in candidates.values()):
                raise ValueError("unexpected structure")
        except (ValueError, AttributeError):
            raise PromotionStateError(
                f"the promotion state {self.path} is corrupt (not the JSON this suite writes)"
            ) from None
        return candidates

    def save(self, candidates: dict[str, dict[str, Any]]) -> None:
        newest = sorted(candidates.items(), key=lambda kv: float(kv[1].get("first_seen", 0)), reverse=True)[:KEPT]
        self.directory.mkdir(parents=True, exist_ok=True)
        files.replace_durably(self.path, json.dumps({"candidates": dict(newest)}, indent=1, sort_keys=True).encode())

    def blocked(self) -> dict[str, dict[str, Any]]:
        """digest -> {"reason", "host", "time", "by"} of every candidate blocked here."""
        return {d: c["blocked"] for d, c in self.load().items() if isinstance(c.get("blocked"), dict)}
