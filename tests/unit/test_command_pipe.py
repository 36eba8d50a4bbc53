"""Writes to the engine's command pipe (a real FIFO): whole lines, each write at most PIPE_BUF bytes,
so no line of ours is ever interleaved with another writer's."""

from __future__ import annotations

import os
import select
import threading
from pathlib import Path

import pytest

from pollerfleet.fleet import submit as pipe


def test_every_write_is_whole_lines_of_at_most_pipe_buf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fifo = tmp_path / "centengine.cmd"
    os.mkfifo(fifo)
    lines = [
        f"[1700000000] PROCESS_SERVICE_CHECK_RESULT;poller{i:03d};Poller image;0;IMAGE OK - {'x' * 150}"
        for i in range(500)
    ]
    lines.append("[1700000000] PROCESS_SERVICE_CHECK_RESULT;poller999;Poller image;0;" + "y" * 10000)  # too long
    received = bytearray()

    def engine() -> None:
        with open(fifo, "rb") as f:
            while chunk := f.read(65536):
                received.extend(chunk)

    reader = threading.Thread(target=engine)
    reader.start()
    writes: list[bytes] = []
    real_write = os.write

    def recording_write(fd: int, data: bytes) -> int:
        n = real_write(fd, data)
        writes.append(bytes(data[:n]))
        return n

    monkeypatch.setattr(pipe.os, "write", recording_write)
    for _ in range(100):  # the reader must have the pipe open before a non-blocking writer can
        try:
            written = pipe.submit(fifo, lines)
            break
        except pipe.SubmitError:
            threading.Event().wait(0.02)
    else:
        raise AssertionError("the reader never opened the FIFO")
    monkeypatch.undo()
    reader.join(10)
    assert len(writes) > 1
    assert all(len(w) <= select.PIPE_BUF and w.endswith(b"\n") for w in writes), [len(w) for w in writes]
    got = received.decode().splitlines()
    assert got[:500] == lines[:500] and written == len(received)
    assert len(got[500]) == select.PIPE_BUF - 1 and lines[500].startswith(got[500])
