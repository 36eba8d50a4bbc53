"""The Docker client's own HTTP/1.1 on a socket: the answer shapes a daemon sends (length,
chunked, read to close, kept alive), the bounds it never reads past, a malformed answer in one
line, and the control characters of every string gone before the JSON is decoded.

The daemon itself is real in the integration tests; here a unix socket answers fixed bytes, each
shape at once, including those no healthy daemon sends."""

from __future__ import annotations

import json
import random
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pollerfleet.clients import docker
from pollerfleet.clients.docker import DockerClient, DockerError, endpoint_for
from pollerfleet.core.names import plain


class Server:
    """Accepts connections on a unix socket; answers each request with the next of ANSWERS (bytes),
    closing after it when the answer is marked so; records the requests."""

    def __init__(self, path: Path, answers: list[tuple[bytes, bool]]) -> None:
        self.path, self.answers, self.requests, self.connections = path, list(answers), [], 0
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(4)
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while self.answers:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                buf = b""
                while self.answers:
                    while b"\r\n\r\n" not in buf:
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        buf += chunk
                    if b"\r\n\r\n" not in buf:
                        break
                    head, _, buf = buf.partition(b"\r\n\r\n")
                    self.requests.append(head.decode())
                    answer, close = self.answers.pop(0)
                    conn.sendall(answer)
                    if close:
                        break

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[object]:
    servers: list[Server] = []

    def start(*answers: bytes | tuple[bytes, bool]) -> DockerClient:
        shaped = [a if isinstance(a, tuple) else (a, False) for a in answers]
        servers.append(Server(tmp_path / f"d{len(servers)}.sock", shaped))
        return DockerClient(endpoint_for(None, f"unix://{servers[-1].path}", timeout=2))

    start.servers = servers  # type: ignore[attr-defined]
    yield start
    for s in servers:
        s.close()


def ok(body: bytes, *headers: str) -> bytes:
    head = ["HTTP/1.1 200 OK", "Content-Type: application/json", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def test_answers_by_length_and_chunked_on_one_kept_connection(serve: object) -> None:
    chunked = (
        b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;x=1\r\n{"Id\r\n7\r\n": "c"}\r\n0\r\nX-T: 1\r\n\r\n'
    )
    client = serve(ok(b'{"Version": "20.10"}'), chunked, ok(b"OK"))  # type: ignore[operator]
    with client:
        assert client.version() == {"Version": "20.10"}
        assert client.inspect_container("c") == {"Id": "c"}
        assert client.ping() >= 0
    (server,) = serve.servers  # type: ignore[attr-defined]
    assert server.connections == 1  # kept alive
    first = server.requests[0].split("\r\n")
    assert first[0] == "GET /version HTTP/1.1" and "Host: docker" in first


def test_an_answer_that_ends_when_the_daemon_closes(serve: object) -> None:
    raw = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\n\x01\x00\x00\x00\x00\x00\x00\x0219"
    )
    client = serve((raw, True), ok(b'{"ok": 1}'))  # type: ignore[operator]
    assert (
        client._request("POST", "/exec/x/start", {"Detach": False}, raw=True) == b"\x01\x00\x00\x00\x00\x00\x00\x0219"
    )
    assert client._conn is None  # that connection is done: the next request opens another
    assert client.version() == {"ok": 1}
    req = serve.servers[0].requests[0]  # type: ignore[attr-defined]
    assert "Content-Length: 17" in req and "Content-Type: application/json" in req


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (b"SSH-2.0-OpenSSH_9.2\r\n\r\n", "not an HTTP answer: 'SSH-2.0-OpenSSH_9.2'"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}", "closed before a whole answer"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "bad Content-Length '-1'"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n", "more than 16 MiB): not read"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size 'zz'"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFF\r\n", "more than 16 MiB: not read"),
        (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "malformed header line 'no colon here'"),
        (b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70000, "headers larger than 64 KiB"),
        (b"HTTP/1.1 200 OK\r\n" + b"X: aaaaaaaaaa\r\n" * 6000 + b"\r\n", "headers larger than 64 KiB"),
    ],
)
def test_a_malformed_or_oversized_answer_is_one_line(serve: object, answer: bytes, reason: str) -> None:
    client = serve((answer, True))  # type: ignore[operator]
    with pytest.raises(DockerError) as err:
        client.version()
    text = str(err.value)
    assert text.startswith("docker at unix://") and "closed the connection: " in text and reason in text, text
    assert "\n" not in text


def test_an_answer_read_to_close_is_bounded_too(serve: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(docker, "MAX_BODY", 1000)
    client = serve((b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * 200000, True))  # type: ignore[operator]
    with pytest.raises(DockerError, match="more than 0 MiB: not read"):
        client._request("GET", "/logs", raw=True)


def test_control_characters_leave_every_string_before_decoding() -> None:
    """The same as names.plain() applied to every decoded string and key, on random documents
    made of the characters that matter (escapes, escaped backslashes, raw DEL and C1, NUL ...)."""

    def walk(d: object) -> object:
        if isinstance(d, str):
            return plain(d)
        if isinstance(d, list):
            return [walk(x) for x in d]
        if isinstance(d, dict):
            return {plain(k): walk(v) for k, v in d.items()}
        return d

    rng = random.Random(27)
    alphabet = [
        "a",
        "\\",
        "n",
        "u",
        "\n",
        "\r",
        "\x1b",
        "\x7f",
        "\x85",
        "\x9f",
        "\xa0",
        "é",
        '"',
        "\x00",
        "\u2028",
        "0",
    ]

    def text() -> str:
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))

    for _ in range(3000):
        doc = {text(): [text(), {text(): text()}], "k": text()}
        for ascii_only in (True, False):
            raw = json.dumps(doc, ensure_ascii=ascii_only).encode()
            assert json.loads(docker._plain_body(raw)) == walk(json.loads(raw)), raw
    assert json.loads(docker._plain_body(b'{"Output": "a\\u001B[31m\\r\\nb\\\\n"}')) == {"Output": "a [31m b\\n"}
