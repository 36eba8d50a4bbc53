#!/usr/bin/env python3
"""A simulated fleet for scale figures: a Docker Engine API replay server.

Answers are recorded from the real test daemon (record-through: a request seen for the first
time is forwarded to the daemon's unix socket and its answer stored), never hand-written. Then it
serves them from many addresses at once, one simulated host per 127.0.x.y address on one port,
with a configurable latency; a share of hosts is down (nothing listens: connection refused) or
hung (accepts, never answers).

    replay = Replay(upstream_socket, latency=0.02)
    replay.record_through(["/_ping", ...])       # or let clients run against replay.record_host first
    addresses = replay.serve(n_hosts=1000, port=23900, down=0.0, hung=0.05)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional


@dataclass
class Answer:
    status: int
    content_type: str
    body: bytes


def _strip_version(path: str) -> str:
    if path.startswith("/v") and "/" in path[1:]:
        head, rest = path[1:].split("/", 1)
        if head[1:].replace(".", "").isdigit():
            return "/" + rest
    return path


def _ask_daemon(sock_path: str, method: str, path: str, body: bytes) -> Answer:
    """Forward one request to the real daemon's unix socket (HTTP/1.0, read to close)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(sock_path)
    req = f"{method} {path} HTTP/1.0\r\nHost: docker\r\nContent-Length: {len(body)}\r\n"
    req += "Content-Type: application/json\r\n\r\n" if body else "\r\n"
    s.sendall(req.encode() + body)
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    s.close()
    head, _, payload = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    ctype = next(
        (line.split(":", 1)[1].strip() for line in lines[1:] if line.lower().startswith("content-type:")),
        "application/json",
    )
    return Answer(status, ctype, payload)


@dataclass
class Replay:
    upstream: Optional[str]  # the real daemon's unix socket, for record-through
    latency: float = 0.02
    answers: dict[str, Answer] = field(default_factory=dict)
    requests: int = 0
    _loop: Optional[asyncio.AbstractEventLoop] = None
    _thread: Optional[threading.Thread] = None
    _servers: list[asyncio.AbstractServer] = field(default_factory=list)

    def key(self, method: str, path: str) -> str:
        return f"{method} {_strip_version(path)}"

    def lookup(self, method: str, path: str, body: bytes) -> Answer:
        k = self.key(method, path)
        if k not in self.answers:
            if self.upstream is None:
                return Answer(404, "application/json", b'{"message":"not recorded"}')
            self.answers[k] = _ask_daemon(self.upstream, method, path, body)
        return self.answers[k]

    def save(self, path: Path) -> None:
        path.write_text(
            json.dumps(
                {k: [a.status, a.content_type, a.body.decode("latin-1")] for k, a in self.answers.items()}, indent=1
            )
        )

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, hung: bool) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                if hung:
                    await asyncio.sleep(3600)
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                length = next(
                    (int(line.split(":", 1)[1]) for line in lines[1:] if line.lower().startswith("content-length:")), 0
                )
                body = await reader.readexactly(length) if length else b""
                self.requests += 1
                await asyncio.sleep(self.latency)
                a = self.lookup(method, path, body)
                writer.write(
                    f"HTTP/1.1 {a.status} X\r\nContent-Type: {a.content_type}\r\n"
                    f"Content-Length: {len(a.body)}\r\nApi-Version: 1.41\r\n\r\n".encode()
                    + a.body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError, ValueError):
            pass
        finally:
            with contextlib.suppress(RuntimeError):  # the loop may already be stopped at exit
                writer.close()

    def serve(
        self, n_hosts: int, port: int, down: float = 0.0, hung: float = 0.0, seed: int = 7
    ) -> list[tuple[str, str]]:
        """Start N simulated hosts; return (address, kind) per host, kind in ok/down/hung."""
        rng = random.Random(seed)
        hosts = []
        for i in range(n_hosts):
            addr = f"127.0.{1 + i // 250}.{1 + i % 250}"
            r = rng.random()
            hosts.append((addr, "down" if r < down else "hung" if r < down + hung else "ok"))
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)

            async def start() -> None:
                for addr, kind in hosts:
                    if kind == "down":
                        continue
                    server = await asyncio.start_server(
                        lambda r, w, h=(kind == "hung"): self._handle(r, w, h), addr, port, backlog=64
                    )
                    self._servers.append(server)

            loop.run_until_complete(start())
            ready.set()
            loop.run_forever()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        ready.wait(60)
        return hosts

    def stop(self) -> None:
        """Close every listener, end every connection's task (the hung ones sleep for an hour) and
        wait for them, then stop and close the loop: nothing is left pending at exit."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return

        async def shutdown() -> None:
            for server in self._servers:
                server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(shutdown(), loop).result(60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(60)
        if not thread.is_alive():
            loop.close()
        self._loop, self._thread, self._servers = None, None, []
