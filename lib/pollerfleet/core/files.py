"""The suite's own files in directories another user may write: the state, lock, cache and audit
files that the engine user's handlers and root's ``pollerfleet`` share.

Whoever can write in such a directory can plant a symbolic link or a hard link where the suite
expects its file; root would then write (or read) the file the link points to. So every such
file is opened without following a link (``O_NOFOLLOW``), must be a regular file with one link,
owned by a user who may write in that directory (this process, root, the directory's owner or,
in a group-writable directory, a member of its group), and is replaced through a temporary file
created ``O_EXCL`` in the same directory and renamed over it, so a reader sees the old file or
the new one, never half of one (``rename`` replaces a link rather than following it). A file that
fails is a PlantedFile: an OSError whose strerror says why, so callers that already handle
OSError say it in their words.

The inventory cache (an SQLite file SQLite itself writes) uses the same pieces: ``temp_beside``,
``commit``, ``discard`` and ``open_regular``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path

NOFOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC


class PlantedFile(OSError):
    """A file is not what the suite left there (a link, another owner, not a regular file)."""


def _may_write_in(uid: int, directory: os.stat_result) -> bool:
    if uid in (0, os.geteuid(), directory.st_uid):
        return True
    if not directory.st_mode & stat.S_IWGRP or directory.st_mode & stat.S_IWOTH:
        return False  # a world-writable directory vouches for nobody
    try:
        import grp
        import pwd

        user = pwd.getpwuid(uid)
        return user.pw_gid == directory.st_gid or user.pw_name in grp.getgrgid(directory.st_gid).gr_mem
    except (ImportError, KeyError):
        return False


def check_opened(fd: int, path: Path) -> os.stat_result:
    """Raise PlantedFile unless FD (opened from PATH) is a regular file with one link, owned by a
    user who may write in PATH's directory."""
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        raise PlantedFile(errno.EINVAL, "not a regular file: refused", str(path))
    if st.st_nlink != 1:
        raise PlantedFile(errno.EMLINK, f"it has {st.st_nlink} hard links (a planted link?): refused", str(path))
    if not _may_write_in(st.st_uid, os.stat(path.parent)):
        raise PlantedFile(
            errno.EPERM, f"owned by uid {st.st_uid}, who cannot write in {path.parent}: refused", str(path)
        )
    return st


def open_checked(path: Path, flags: int, mode: int = 0o660) -> int:
    """os.open(PATH, FLAGS | O_NOFOLLOW), then check_opened(); a symbolic link is a PlantedFile."""
    try:
        fd = os.open(path, flags | NOFOLLOW, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise PlantedFile(errno.ELOOP, "a symbolic link, not followed: refused", str(path)) from None
        raise
    try:
        check_opened(fd, path)
    except BaseException:
        os.close(fd)
        raise
    return fd


def create_shared(path: Path, flags: int, mode: int = 0o660) -> int:
    """Open PATH (checked), creating it with MODE for the directory's group: the engine user's
    handlers and root's ``pollerfleet`` share these files, and one that root created with its
    own group and umask would lock the engine user out."""
    try:
        fd = os.open(path, flags | os.O_CREAT | os.O_EXCL | NOFOLLOW, mode)
    except FileExistsError:
        return open_checked(path, flags)
    _share(fd, path, mode)
    return fd


def _share(fd: int, path: Path, mode: int) -> None:
    with contextlib.suppress(OSError):  # best effort: a user outside that group cannot give it away
        os.fchown(fd, -1, path.parent.stat().st_gid)
    with contextlib.suppress(OSError):
        os.fchmod(fd, mode)


def read_checked(path: Path) -> bytes:
    """PATH's content (checked); FileNotFoundError when there is none."""
    fd = open_checked(path, os.O_RDONLY)
    with os.fdopen(fd, "rb") as f:
        return f.read()


def replace_durably(path: Path, data: bytes, mode: int = 0o660, sync: bool = True) -> None:
    """Write DATA to a new file created O_EXCL next to PATH, fsync it, rename it over PATH (a link
    planted at PATH is replaced, never followed), fsync the directory (SYNC)."""
    fd, tmp = temp_beside(path)
    try:
        _share(fd, path, mode)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if sync:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        discard(tmp)
        raise
    os.close(fd)
    commit(tmp, path)
    if sync:
        dfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def temp_beside(path: Path, mode: int = 0o600) -> tuple[int, Path]:
    """A new, empty file in PATH's directory, opened for writing: (descriptor, its path)."""
    while True:
        tmp = path.with_name(f".{path.name}.{os.urandom(6).hex()}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW, mode)
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
    with contextlib.suppress(OSError):
        os.unlink(tmp)


def open_regular(path: Path) -> int:
    """A read-only descriptor on PATH if it is a regular file reached without following a link;
    OSError otherwise (ELOOP for a link). Unlike open_checked, owner and link count are not
    checked."""
    fd = os.open(path, os.O_RDONLY | NOFOLLOW)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path} is not a regular file")
    except BaseException:
        os.close(fd)
        raise
    return fd
