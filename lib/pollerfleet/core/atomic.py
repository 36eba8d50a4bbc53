"""Cache and state files written whole or not at all, and never through a symbolic link.

A file is written under a fresh name in its own directory (created with ``O_EXCL``: never an
existing file, never a link) and renamed over the old one, so a reader sees the old file or the
new one, never half of one; ``rename`` replaces a link itself rather than following it. Reads
open with ``O_NOFOLLOW`` and accept only a regular file.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def temp_beside(path: Path, mode: int = 0o600) -> tuple[int, Path]:
    """A new, empty file in PATH's directory, opened for writing: (descriptor, its path)."""
    while True:
        tmp = path.with_name(f".{path.name}.{os.urandom(6).hex()}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, mode)
        except FileExistsError:
            continue
        return fd, tmp


def commit(tmp: Path, path: Path) -> None:
    """Put the finished TMP in PATH's place in one step (removing TMP if that fails)."""
    try:
        os.replace(tmp, path)
    except OSError:
        discard(tmp)
        raise


def discard(tmp: Path) -> None:
    try:
        os.unlink(tmp)
    except OSError:
        pass


def open_regular(path: Path) -> int:
    """A read-only descriptor on PATH if it is a regular file reached without following a link;
    OSError otherwise (ELOOP for a link)."""
    fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path} is not a regular file")
    except BaseException:
        os.close(fd)
        raise
    return fd
