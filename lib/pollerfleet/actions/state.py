"""The suite's decision state on disk: the state file every redeploy (and rebuild) decision reads
and writes under one lock, and the audit log each decision is appended to.

The state file is replaced atomically and durably and never read through a link (core/files.py);
one that exists but cannot be used stops automatic decisions (fail closed) until an operator
resets it. The lock serialises decisions taken at the same moment on this machine.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import stat
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from pollerfleet.actions.decide import FleetState
from pollerfleet.core import files
from pollerfleet.core.names import printable

if TYPE_CHECKING:
    from pollerfleet.actions.redeploy import Decision


class StateError(Exception):
    """The state file exists but cannot be used: no automatic decision is taken on it."""


def _who() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError):
        return f"uid {os.geteuid()}"


class StateStore:
    """The JSON state file, replaced atomically and durably. A file that exists but cannot be read
    or parsed is a StateError: decisions stop (fail closed) until an operator resets it."""

    def __init__(self, directory: Path, name: str = "redeploy") -> None:
        self.directory = directory
        self.path = directory / f"{name}-state.json"
        self.lock_path = directory / f"{name}.lock"

    def load(self) -> FleetState:
        try:
            raw = files.read_checked(self.path)
        except FileNotFoundError:
            return FleetState()
        except OSError as exc:
            raise StateError(f"the state file {self.path} cannot be read by {_who()}: {exc.strerror or exc}") from None
        try:
            doc = json.loads(raw.decode("utf-8"))
            hosts, triggers, breaker = doc.get("hosts", {}), doc.get("triggers", []), doc.get("breaker", {})
            no_progress = doc.get("no_progress", [])
            if not (
                isinstance(hosts, dict)
                and all(isinstance(v, dict) for v in hosts.values())
                and isinstance(triggers, list)
                and all(isinstance(t, dict) for t in triggers)
                and isinstance(breaker, dict)
                and isinstance(no_progress, list)
                and all(isinstance(n, int) for n in no_progress)
            ):
                raise ValueError("unexpected structure")
        except (ValueError, AttributeError):
            raise StateError(f"the state file {self.path} is corrupt (not the JSON this suite writes)") from None
        return FleetState(hosts, triggers, breaker, no_progress)

    def save(self, state: FleetState) -> None:
        """Write a new file (created O_EXCL, never through a link), fsync it, rename it over the
        old one, fsync the directory."""
        self.directory.mkdir(parents=True, exist_ok=True)
        files.replace_durably(self.path, json.dumps(asdict(state), indent=1, sort_keys=True).encode())

    def set_aside(self) -> Optional[Path]:
        """Move an unusable state file out of the way (kept for inspection); return where it went."""
        kept = self.path.with_name(f"{self.path.name}.bad-{time.strftime('%Y%m%dT%H%M%S')}")
        try:
            self.path.replace(kept)
        except FileNotFoundError:
            return None
        return kept

    @contextlib.contextmanager
    def locked(self, timeout: float) -> Iterator[None]:
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            try:
                fd = files.create_shared(self.lock_path, os.O_RDWR)
            except PermissionError:
                try:  # flock needs no write access: a lock file someone else owns still works if readable
                    fd = files.open_checked(self.lock_path, os.O_RDONLY)
                except PermissionError:
                    raise StateError(self._lock_advice()) from None
        except files.PlantedFile as exc:
            raise StateError(f"the decision lock {self.lock_path} is unusable: {exc.strerror}") from None
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES) or not time.monotonic() < deadline:
                        raise TimeoutError(f"the decision lock {self.lock_path} is held by another process") from None
                    time.sleep(0.05)
            yield
        finally:
            os.close(fd)

    def _lock_advice(self) -> str:
        try:
            st = self.lock_path.stat()
            owner = f"owner uid {st.st_uid}, group gid {st.st_gid}, mode {stat.S_IMODE(st.st_mode):04o}"
        except OSError:
            owner = "cannot stat it"
        return (
            f"the decision lock {self.lock_path} cannot be opened by {_who()} ({owner}): give it the group of "
            f"{self.directory} and mode 0660 (chgrp/chmod), or remove it while nothing runs"
        )


class AuditLog:
    """One JSON line per decision; appends only."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, decision: Decision, **extra: Any) -> Optional[str]:
        """Append the decision; return an error sentence instead of raising."""
        record = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **asdict(decision), **extra}
        record["host"] = printable(decision.host, 300)
        if not record.get("problem"):
            record.pop("problem", None)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = files.create_shared(self.path, os.O_WRONLY | os.O_APPEND)
            with os.fdopen(fd, "a", encoding="utf-8") as f:
                f.write(json.dumps(record, sort_keys=True) + "\n")
        except OSError as exc:
            return f"cannot write the audit log {self.path}: {exc.strerror}"
        return None
