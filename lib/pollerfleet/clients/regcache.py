"""The registry answer per repository, cached on disk with a TTL.

Sixty hosts checked within the TTL cost one round of registry requests, not sixty. Entries are
written atomically (temp file + rename) under a file lock; a corrupt entry is ignored and
replaced. The directory belongs to the engine user and root runs checks too: no file in it is
opened through a link (core/files.py), and what an entry says is checked like a registry answer.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

from pollerfleet.core import files

MODE = 0o664  # root's checks and the engine user's share the entries (the directory's group)


class RegistryCache:
    def __init__(self, directory: Path, ttl: float) -> None:
        self.directory = directory
        self.ttl = ttl

    def _path(self, key: str) -> Path:
        return self.directory / f"registry-{hashlib.sha256(key.encode()).hexdigest()[:24]}.json"

    def lookup(self, key: str) -> Optional[dict[str, Any]]:
        """The fresh entry for KEY, or None (absent, expired, corrupt, or for another key)."""
        try:
            doc = json.loads(files.read_checked(self._path(key)).decode("utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(doc, dict) or doc.get("key") != key or not isinstance(doc.get("value"), dict):
            return None
        stamp = doc.get("time")
        if not isinstance(stamp, (int, float)) or not 0 <= time.time() - stamp < self.ttl:
            return None
        return dict(doc["value"])

    def store(self, key: str, value: dict[str, Any]) -> None:
        """Write the entry, stamped with its ``fetched`` time (so adding to an entry does not extend
        its life); a cache that cannot be written is not an error: the check goes on without it."""
        stamp = value.get("fetched") if isinstance(value.get("fetched"), (int, float)) else time.time()
        with contextlib.suppress(OSError), self._locked(key):
            data = json.dumps({"key": key, "time": stamp, "value": value}).encode()
            files.replace_durably(self._path(key), data, MODE, sync=False)

    @contextlib.contextmanager
    def _locked(self, key: str) -> Iterator[None]:
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = files.create_shared(self._path(key).with_suffix(".lock"), os.O_RDWR, MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)
