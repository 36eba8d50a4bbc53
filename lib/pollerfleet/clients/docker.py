"""Docker Engine API access for one poller host.

A small HTTP/1.1 client on a socket (``unix://``, ``tcp://`` with TLS client certificates as
Docker's own ``--tlsverify`` uses them, plain ``tcp://`` only when the operator says
``--no-tls``) and on ``ssh HOST docker system dial-stdio`` for ``ssh://``. A check is one or two
requests, so start-up time matters more than features: importing the Docker SDK and requests
would triple it, and even the standard library's ``http.client`` (through ``email``) costs more
than the rest of this module; ``ssl`` is imported only for a TLS endpoint, ``subprocess`` only
for ssh.

Every call has a timeout. The API version is not negotiated: requests go to the unversioned
paths the daemon serves at its own version (or to ``/vX.Y/`` when the operator pins one), so a
check costs no extra ``/version`` round trip, and neither a CentOS 7 daemon (API 1.26) nor a
current one (minimum API 1.44) refuses us. Every failure is a DockerError with one line for
the operator.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import socket
import sys
import time
import urllib.parse
import weakref
from pathlib import Path

from pollerfleet.core import verbosity
from pollerfleet.core.names import plain

DEFAULT_PORT = 2376

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing at a plugin's start-up
if TYPE_CHECKING:
    import ssl
    import subprocess
    from typing import Any, Optional

    from pollerfleet.core.config import Config
    from pollerfleet.core.inventory import PollerHost


class DockerError(Exception):
    """Docker could not be asked, or answered with an error; str() is the operator's reason."""


class NotFound(DockerError):
    """The daemon answered 404 (no such container or image)."""


class UsageError(ValueError):
    """The options do not describe a usable Docker endpoint."""


class _Frozen:
    """A small immutable record compared by value: what ``@dataclass(frozen=True)`` gives, without
    importing dataclasses (with inspect, ast and dis) into the plugins that need only this module."""

    __slots__: tuple[str, ...] = ()
    _fields: tuple[str, ...] = ()  # in the constructor's order

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, k) for k in self._fields)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other._values() == self._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={getattr(self, k)!r}' for k in self._fields)})"


class TLSFiles(_Frozen):
    """ca.pem, cert.pem and key.pem from one directory, as ``docker --tlsverify`` expects them."""

    __slots__ = ("directory",)
    _fields = ("directory",)
    directory: Path

    def __init__(self, directory: Path) -> None:
        object.__setattr__(self, "directory", directory)

    @property
    def ca(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def cert(self) -> Path:
        return self.directory / "cert.pem"

    @property
    def key(self) -> Path:
        return self.directory / "key.pem"


class Endpoint(_Frozen):
    """Where one host's Docker daemon is and how to talk to it."""

    __slots__ = ("api_version", "ssh_config", "timeout", "tls", "url")
    _fields = ("url", "tls", "timeout", "api_version", "ssh_config")
    url: str
    tls: Optional[TLSFiles]
    timeout: float
    api_version: str
    ssh_config: Optional[Path]

    def __init__(
        self,
        url: str,
        tls: Optional[TLSFiles] = None,
        timeout: float = 10.0,
        api_version: str = "",
        ssh_config: Optional[Path] = None,
    ) -> None:
        for k, v in zip(self._fields, (url, tls, timeout, api_version, ssh_config)):
            object.__setattr__(self, k, v)

    @property
    def scheme(self) -> str:
        return self.url.split("://", 1)[0]

    def __str__(self) -> str:
        return self.url


def endpoint_for(
    host: Optional[str],
    docker_url: Optional[str] = None,
    tls_dir: Optional[str | Path] = None,
    no_tls: bool = False,
    port: int = DEFAULT_PORT,
    timeout: float = 10.0,
    api_version: str = "",
    ssh_config: Optional[Path] = None,
) -> Endpoint:
    """Build the endpoint from ``-H``/``--docker-url``/``--tls-dir``/``--no-tls``.

    ``-H HOST`` alone means ``tcp://HOST:2376`` with TLS from ``--tls-dir``. Plain TCP is
    refused unless ``no_tls`` is set: the Docker API is root on that host.
    """
    url = _url_of(host, docker_url, port)
    try:
        parsed = urllib.parse.urlsplit(url)
    except ValueError as exc:  # an unbalanced [ ] around an IPv6 address
        raise UsageError(f"Docker URL {plain(url)!r} cannot be read: {exc}") from None
    if parsed.scheme == "unix":
        if not parsed.path:
            raise UsageError(f"Docker URL {url!r} names no socket path")
        return Endpoint(url, None, timeout, api_version)
    if parsed.scheme == "ssh":
        if not parsed.hostname:
            raise UsageError(f"Docker URL {url!r} names no host")
        return Endpoint(url, None, timeout, api_version, ssh_config)
    url = _tcp_url(url, parsed, no_tls)
    if no_tls:
        return Endpoint(url, None, timeout, api_version)
    return Endpoint(url, _tls_files(url, tls_dir), timeout, api_version)


def _url_of(host: Optional[str], docker_url: Optional[str], port: int) -> str:
    """--docker-url as given, or -H HOST as tcp://HOST:PORT."""
    if docker_url:
        return docker_url
    if not host:
        raise UsageError("no Docker host given: use -H HOST or --docker-url URL")
    if not _host_or_address(host):
        hint = ": a URL goes to --docker-url" if "://" in host else ""
        raise UsageError(f"-H takes a host name or an IP address, not {plain(host)!r}{hint}")
    return f"tcp://{_bracket(host)}:{port}"


def _tcp_url(url: str, parsed: urllib.parse.SplitResult, no_tls: bool) -> str:
    """A TCP daemon's URL as tcp://HOST:PORT (https:// is TCP with TLS; http:// only with --no-tls)."""
    if parsed.scheme not in ("tcp", "https", "http"):
        raise UsageError(f"unsupported Docker URL {url!r}: use unix://, tcp:// or ssh://")
    if parsed.scheme == "http" and not no_tls:
        raise UsageError(f"{url} is plain HTTP; pass --no-tls to allow an unencrypted daemon")
    url = "tcp://" + url.split("://", 1)[1]
    try:
        if not parsed.hostname or parsed.port is None:
            raise ValueError
    except ValueError:
        raise UsageError(f"Docker URL {url!r} must be tcp://HOST:PORT") from None
    return url


def _tls_files(url: str, tls_dir: Optional[str | Path]) -> TLSFiles:
    """The client certificate and CA of --tls-dir, every one of them there."""
    if not tls_dir:
        raise UsageError(
            f"{url} needs TLS: give --tls-dir DIR (ca.pem, cert.pem, key.pem), "
            "or --no-tls for a daemon that really listens unencrypted"
        )
    tls = TLSFiles(Path(tls_dir))
    for f in (tls.ca, tls.cert, tls.key):
        if not f.is_file():
            raise UsageError(f"TLS file {f} is missing (--tls-dir needs ca.pem, cert.pem, key.pem)")
    return tls


#: What -H (or an inventory host's address) may be: a host name, an IPv4 or an IPv6 address. Wider
#: than RFC 1123 on purpose: names with "_" resolve through /etc/hosts and some DNS zones.
_HOST = re.compile(r"(?!-)[A-Za-z0-9_.:-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\]")


def _host_or_address(host: str) -> bool:
    return bool(_HOST.fullmatch(host))


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


#: The most a Docker answer may be: anything larger is refused, never read into memory. An
#: inspect is a few KiB; /containers/json and /info of a busy host some hundreds.
MAX_BODY = 16 * 1024 * 1024
_MAX_HEAD = 64 * 1024  # status line and headers together


class _BadAnswer(Exception):
    """The peer did not speak HTTP/1.1 as a Docker daemon does; str() says how."""


class _Closed(_BadAnswer):
    """The peer closed the connection before a whole answer."""


class _SocketLink:
    """A connected socket (unix, tcp, or tls over tcp) as the HTTP code below reads and writes it."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def sendall(self, data: bytes) -> None:
        self.sock.sendall(data)

    def recv(self, n: int) -> bytes:
        return self.sock.recv(n)

    def abort(self) -> None:
        with contextlib.suppress(OSError):  # the plain socket's shutdown: an SSLSocket's would drop its state
            socket.socket.shutdown(self.sock, socket.SHUT_RDWR)

    def close(self) -> None:
        self.sock.close()


_SSH_CHILDREN: weakref.WeakSet[subprocess.Popen[bytes]] = weakref.WeakSet()


@atexit.register
def _kill_ssh_children() -> None:
    """A plugin that ends on its -t (or any other way) leaves no ssh child behind."""
    for proc in list(_SSH_CHILDREN):
        if proc.poll() is None:
            import subprocess  # already imported by connect(): it started this child

            proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(1)


class _PipeLink:
    """``ssh HOST docker system dial-stdio``: its stdin and stdout as a socket, every read bounded
    by the timeout."""

    def __init__(self, argv: list[str], timeout: float) -> None:
        import subprocess  # only ssh:// starts a child: unix:// and tcp:// runs are spared the import

        self._proc = proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        _SSH_CHILDREN.add(proc)
        if proc.stdin is None or proc.stdout is None:
            raise DockerError("ssh was started without pipes")
        self._in, self._out = proc.stdin.fileno(), proc.stdout.fileno()
        self._timeout = timeout

    def sendall(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._in, view) :]

    def recv(self, n: int) -> bytes:
        import select

        ready, _, _ = select.select([self._out], [], [], self._timeout)
        if not ready:
            raise socket.timeout("timed out")
        return os.read(self._out, n)

    def abort(self) -> None:
        """From another thread (the sweep's per-host deadline): end the ssh child, so reads end."""
        if self._proc.poll() is None:
            self._proc.kill()

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        for pipe in (self._proc.stdin, self._proc.stdout):
            with contextlib.suppress(OSError):
                if pipe is not None:
                    pipe.close()


class _Connection:
    """One HTTP/1.1 connection to a daemon, kept open between requests while the daemon allows.

    A few dozen lines instead of ``http.client``, whose header parsing goes through the ``email``
    package: a third of a plugin's start-up and a tenth of a fleet sweep's CPU. Only what the
    Docker API needs: one request at a time, Content-Length, chunked or read-to-close answers,
    each bounded by MAX_BODY."""

    def __init__(self, link: Any, host: str = "docker") -> None:
        self.link = link
        self.host = host
        self._buf = bytearray()
        self.reusable = True

    def request(self, method: str, path: str, body: Optional[bytes], headers: dict[str, str]) -> tuple[int, bytes]:
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        if body is not None or method in ("POST", "PUT"):
            head.append(f"Content-Length: {len(body or b'')}")
        self.link.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + (body or b""))
        while True:
            status, fields, version = self._head()
            if not 100 <= status < 200:
                break
        close = fields.get("connection", "").lower() == "close" or version == "HTTP/1.0"
        if method == "HEAD" or status in (204, 304):
            data = b""
        elif "chunked" in fields.get("transfer-encoding", "").lower():
            data = self._chunked()
        elif "content-length" in fields:
            length = fields["content-length"]
            if not length.isdigit():
                raise _BadAnswer(f"bad Content-Length {length[:20]!r}")
            size = int(length)
            if size > MAX_BODY:
                raise _BadAnswer(f"an answer of {size} bytes (more than {MAX_BODY >> 20} MiB): not read")
            data = self._exact(size)
        else:  # an answer that ends when the daemon closes (an exec's raw stream)
            data = self._to_close()
            close = True
        self.reusable = not close
        return status, data

    def _fill(self) -> None:
        chunk = self.link.recv(65536)
        if not chunk:
            raise _Closed("the connection closed before a whole answer")
        self._buf += chunk

    def _line(self) -> bytes:
        """One CRLF-ended line (of a chunked body)."""
        while True:
            end = self._buf.find(b"\r\n")
            if end >= 0:
                line = bytes(self._buf[:end])
                del self._buf[: end + 2]
                return line
            if len(self._buf) > _MAX_HEAD:
                raise _BadAnswer("a line longer than 64 KiB")
            self._fill()

    def _head(self) -> tuple[int, dict[str, str], str]:
        """The status line and the headers, read whole (one search for the blank line, not one per line)."""
        start = 0
        while True:
            end = self._buf.find(b"\r\n\r\n", start)
            if end >= 0:
                break
            if len(self._buf) > _MAX_HEAD:
                raise _BadAnswer("headers larger than 64 KiB")
            start = max(0, len(self._buf) - 3)
            self._fill()
        if end > _MAX_HEAD:
            raise _BadAnswer("headers larger than 64 KiB")
        lines = self._buf[:end].decode("latin-1").split("\r\n")
        del self._buf[: end + 4]
        first = lines[0]
        version, _, rest = first.partition(" ")
        code = rest[:3]
        if version not in ("HTTP/1.1", "HTTP/1.0") or not code.isdigit() or rest[3:4] not in ("", " "):
            raise _BadAnswer(f"not an HTTP answer: {plain(first[:40])!r}")
        fields: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                raise _BadAnswer(f"a malformed header line {plain(name[:40])!r}")
            fields[name.strip().lower()] = value.strip()
        return int(code), fields, version

    def _exact(self, size: int) -> bytes:
        while len(self._buf) < size:
            self._fill()
        data = bytes(self._buf[:size])
        del self._buf[:size]
        return data

    def _chunked(self) -> bytes:
        out = bytearray()
        while True:
            line = self._line().split(b";", 1)[0].strip()
            try:
                size = int(line, 16)
            except ValueError:
                raise _BadAnswer(f"a bad chunk size {plain(line[:20].decode('latin-1'))!r}") from None
            if size < 0 or len(out) + size > MAX_BODY:
                raise _BadAnswer(f"an answer of more than {MAX_BODY >> 20} MiB: not read")
            if size == 0:
                while self._line():  # trailers
                    pass
                return bytes(out)
            out += self._exact(size)
            if self._exact(2) != b"\r\n":
                raise _BadAnswer("a chunk not followed by CRLF")

    def _to_close(self) -> bytes:
        while True:
            if len(self._buf) > MAX_BODY:
                raise _BadAnswer(f"an answer of more than {MAX_BODY >> 20} MiB: not read")
            try:
                self._fill()
            except _Closed:
                data = bytes(self._buf)
                self._buf.clear()
                return data

    def abort(self) -> None:
        self.link.abort()

    def close(self) -> None:
        self.link.close()


class DockerClient:
    """A connection to one daemon; use as a context manager or call close()."""

    def __init__(self, endpoint: Endpoint, remember: bool = False) -> None:
        """REMEMBER: answer a JSON GET asked again (the engine's inspect, by the container check
        and the image check of one host in a sweep) from its first answer, for this client's life."""
        self.endpoint = endpoint
        self._conn: Optional[_Connection] = None
        self._prefix = f"/v{endpoint.api_version}" if endpoint.api_version else ""
        self._answers: Optional[dict[str, bytes]] = {} if remember else None

    def __enter__(self) -> DockerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def abort(self) -> None:
        """From another thread: end the request this client is waiting on (its reads fail at once)."""
        conn = self._conn
        if conn is not None:
            conn.abort()

    # -- the calls the checks use -------------------------------------------------------------
    def ping(self) -> float:
        """GET /_ping; return the round trip in seconds."""
        start = time.monotonic()
        body = self._request("GET", "/_ping", raw=True)
        if body.strip() != b"OK":
            raise DockerError(f"docker at {self.endpoint} answered _ping with {body[:40]!r}")
        return time.monotonic() - start

    def version(self) -> dict[str, Any]:
        return self._json_object("/version")

    def info(self) -> dict[str, Any]:
        return self._json_object("/info")

    def inspect_container(self, name: str) -> dict[str, Any]:
        return self._json_object(f"/containers/{urllib.parse.quote(name, safe='')}/json")

    def inspect_image(self, ref: str) -> dict[str, Any]:
        return self._json_object(f"/images/{urllib.parse.quote(ref, safe='/:@')}/json")

    def containers(self, all_: bool = True) -> list[dict[str, Any]]:
        data = self._request("GET", f"/containers/json?all={int(all_)}")
        if not isinstance(data, list):
            raise DockerError(f"malformed answer from docker at {self.endpoint}: not a list")
        return data

    def exec_run(self, container: str, argv: list[str]) -> tuple[int, bytes]:
        """Run argv inside a running container; return (exit code, output)."""
        created = self._request(
            "POST",
            f"/containers/{urllib.parse.quote(container, safe='')}/exec",
            {"Cmd": argv, "AttachStdout": True, "AttachStderr": True},
        )
        if not isinstance(created, dict) or "Id" not in created:
            raise DockerError(f"malformed answer from docker at {self.endpoint} to exec create")
        exec_id = str(created["Id"])
        raw = self._request("POST", f"/exec/{exec_id}/start", {"Detach": False, "Tty": False}, raw=True)
        inspected = self._json_object(f"/exec/{exec_id}/json")
        code = inspected.get("ExitCode")
        return (int(code) if isinstance(code, int) else -1), _demux(raw)

    # -- plumbing -----------------------------------------------------------------------------
    def _json_object(self, path: str) -> dict[str, Any]:
        data = self._request("GET", path)
        if not isinstance(data, dict):
            raise DockerError(f"malformed answer from docker at {self.endpoint}: not an object")
        return data

    def _connection(self) -> _Connection:
        if self._conn is not None:
            return self._conn
        ep = self.endpoint
        parsed = urllib.parse.urlsplit(ep.url)
        link: Any
        if ep.scheme == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(ep.timeout)
            try:
                sock.connect(parsed.path)
            except BaseException:
                sock.close()
                raise
            link = _SocketLink(sock)
        elif ep.scheme == "ssh":
            target = f"{parsed.username}@{parsed.hostname}" if parsed.username else parsed.hostname
            link = _PipeLink(_ssh_argv(str(target), parsed.port, ep.timeout, ep.ssh_config), ep.timeout)
        else:
            host = str(parsed.hostname)
            context = _tls_context(ep.tls) if ep.tls is not None else None  # ssl is imported for TLS only
            sock = socket.create_connection((host, parsed.port or DEFAULT_PORT), ep.timeout)
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if context is not None:
                    sock = context.wrap_socket(sock, server_hostname=host)
            except BaseException:
                sock.close()
                raise
            link = _SocketLink(sock)
        self._conn = _Connection(link)
        return self._conn

    def _request(self, method: str, path: str, body: Optional[dict[str, Any]] = None, raw: bool = False) -> Any:
        where = self.endpoint
        headers = {"User-Agent": "pollerfleet"}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self._answers is not None and not raw and method == "GET" and path in self._answers:
            return json.loads(self._answers[path])
        start = time.monotonic()
        try:
            try:
                conn = self._connection()
                status, data = conn.request(method, self._prefix + path, payload, headers)
                if not conn.reusable:
                    self.close()
            except Exception as exc:
                verbosity.request(method, f"{where}{self._prefix}{path}", None, time.monotonic() - start, repr(exc))
                raise
            verbosity.request(method, f"{where}{self._prefix}{path}", status, time.monotonic() - start)
        except DockerError:
            self.close()
            raise
        except _BadAnswer as exc:
            self.close()
            raise DockerError(f"docker at {where} closed the connection: {exc}") from None
        except (socket.timeout, TimeoutError):
            self.close()
            raise DockerError(f"docker at {where} did not answer within {where.timeout:g} s") from None
        except OSError as exc:
            self.close()
            raise DockerError(_os_reason(exc, where)) from None
        if status >= 400:
            message = _error_message(data)
            if status == 404 and not _docker_error_body(data):
                raise DockerError(
                    f"{where} answered HTTP 404 to {path} without Docker's error body ({message}): "
                    "is a Docker daemon listening there?"
                )
            cls = NotFound if status == 404 else DockerError
            raise cls(f"docker at {where} answered HTTP {status} to {path}: {message}")
        if raw:
            return data
        try:
            data = _plain_body(data)
            doc = json.loads(data)
        except ValueError:
            raise DockerError(f"malformed answer from docker at {where} to {path}: not JSON") from None
        if self._answers is not None and method == "GET":
            self._answers[path] = data
        return doc


def _os_reason(exc: OSError, where: Endpoint) -> str:
    """The operator's one line for a failure to talk to the daemon (TLS ones too: ssl.SSLError is
    an OSError, and ssl is looked at only when it was imported, that is for a TLS endpoint)."""
    ssl = sys.modules.get("ssl")
    if ssl is not None and isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS verification of docker at {where} failed: {exc.verify_message}"
    if ssl is not None and isinstance(exc, ssl.SSLError):
        if _not_tls(exc):
            return (
                f"docker at {where} does not speak TLS: that port answers in plain HTTP (a daemon without "
                "--tlsverify); use --no-tls only if it really is unencrypted"
            )
        return f"TLS handshake with docker at {where} failed: {_ssl_reason(exc)}"
    if isinstance(exc, ConnectionRefusedError):
        return f"connection to docker at {where} refused (is dockerd listening there?)"
    if isinstance(exc, FileNotFoundError):
        return f"no Docker socket at {where}"
    if isinstance(exc, PermissionError):
        return f"permission denied on {where}"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the host of {where}: {exc.strerror}"
    if isinstance(exc, ConnectionError):
        reason = type(exc).__name__ if not str(exc) else str(exc)
        return f"docker at {where} closed the connection: {reason}"
    return f"cannot talk to docker at {where}: {exc.strerror or exc}"


def _ssh_argv(target: str, port: Optional[int], timeout: float, config: Optional[Path] = None) -> list[str]:
    argv = [
        "ssh",
        "-o",
        "BatchMode=yes",
        "-o",
        f"ConnectTimeout={max(1, int(timeout))}",
        "-o",
        "ServerAliveInterval=5",
        "-o",
        "ServerAliveCountMax=2",
    ]
    if config is not None:
        argv += ["-F", str(config)]
    if port:
        argv += ["-p", str(port)]
    return [*argv, "--", target, "docker", "system", "dial-stdio"]


def _docker_error_body(data: bytes) -> bool:
    """Docker's own 404: {"message": "No such container: NAME"} (or image, exec instance); a web
    server or a proxy in front answers otherwise."""
    try:
        doc = json.loads(data)
    except ValueError:
        return False
    message = doc.get("message") if isinstance(doc, dict) else None
    return isinstance(message, str) and message.lower().startswith("no such ")


def _not_tls(exc: BaseException) -> bool:
    """The server answered a TLS hello in plain text (OpenSSL 1.1 and 3 word it differently)."""
    text = f"{getattr(exc, 'reason', '')} {exc}".upper()
    return any(
        k in text for k in ("WRONG_VERSION_NUMBER", "HTTP_REQUEST", "RECORD LAYER FAILURE", "RECORD_LAYER_FAILURE")
    )


def _pem_problem(path: Path, kind: str) -> str:
    """What is wrong with a PEM file, in words ('' when nothing obvious is)."""
    try:
        text = path.read_bytes()
    except OSError as exc:
        return f"{path} cannot be read: {exc.strerror or exc}"
    if not text.strip():
        return f"{path} is empty"
    if b"-----BEGIN " not in text:
        return f"{path} is not PEM (no -----BEGIN line): not a {kind}"
    if kind == "private key" and b"PRIVATE KEY-----" not in text:
        return f"{path} holds no private key (a certificate in its place?)"
    if kind != "private key" and b"CERTIFICATE-----" not in text:
        return f"{path} holds no certificate"
    return ""


def _tls_context(tls: TLSFiles) -> ssl.SSLContext:
    for path, kind in ((tls.ca, "CA certificate"), (tls.cert, "client certificate"), (tls.key, "private key")):
        problem = _pem_problem(path, kind)
        if problem:
            raise DockerError(f"TLS file {problem} (--tls-dir needs ca.pem, cert.pem, key.pem)")
    import ssl

    try:
        ctx = ssl.create_default_context(cafile=str(tls.ca))
    except (ssl.SSLError, OSError) as exc:
        raise DockerError(f"TLS file {tls.ca} is not a usable CA certificate: {_ssl_reason(exc)}") from None
    try:
        ctx.load_cert_chain(str(tls.cert), str(tls.key))
    except (ssl.SSLError, OSError) as exc:
        if "KEY_VALUES_MISMATCH" in f"{getattr(exc, 'reason', '')} {exc}".upper():
            why = f"{tls.key} is not the key of {tls.cert}"
        else:
            why = f"{tls.cert} and {tls.key} are not a usable certificate and key ({_ssl_reason(exc)})"
        raise DockerError(f"TLS files in {tls.directory} cannot be used: {why}") from None
    return ctx


# In a JSON text, a control character can only be an escape (\n, \u001b, \u0085 ...) or, for DEL
# and C1, the raw character; a run of them, escapes and raw alike, is one match. An escaped
# backslash is matched first, as a pair (group 1), so the "n" of "\\n" is never taken for an
# escape. Every alternative starts with a literal byte, so that the regular expression engine
# jumps from candidate to candidate instead of trying a match at every position; and a text
# without raw DEL or C1 bytes (nearly every answer) is searched for backslashes alone, which it
# does fastest: 150 us -> 2 us on a 2.5 KB /info answer, the sweep's largest cost after its sockets.
_ESCAPE = rb"(?:[bfnrt]|u00[01][0-9a-fA-F]|u007[fF]|u00[89][0-9a-fA-F])"
_ESCAPES = rb"\\(?:(\\)|" + _ESCAPE + rb"(?:\\" + _ESCAPE + rb")*)"
_RUN = rb"(?:\\" + _ESCAPE + rb"|\x7f|\xc2[\x80-\x9f])*"
_JSON_CONTROL = rb"\\(?:(\\)|" + _ESCAPE + _RUN + rb")|\x7f" + _RUN + rb"|\xc2[\x80-\x9f]" + _RUN


def _plain_body(data: bytes) -> bytes:
    """A JSON answer whose every string (health check output, error texts, labels, keys) has each
    run of control characters as one space, as names.plain() would make it, changed in the text
    before it is decoded: one regular-expression pass instead of a walk over every decoded value."""
    if b"\x00" in data:  # UTF-16/32 (json.loads would take it): not rewritten as bytes, refused
        raise ValueError("not UTF-8")
    raw = b"\x7f" in data or b"\xc2" in data
    if not raw and b"\\" not in data:  # three memchr, the common case
        return data
    # compiled on first use (not at a plugin's start), then from re's cache
    return re.sub(_JSON_CONTROL if raw else _ESCAPES, _replacement, data)


def _replacement(m: re.Match[bytes]) -> bytes:
    return b"\\\\" if m.group(1) else b" "


def _error_message(data: bytes) -> str:
    try:
        doc = json.loads(data)
        if isinstance(doc, dict) and isinstance(doc.get("message"), str):
            return plain(str(doc["message"]).strip().splitlines()[0][:200])
    except ValueError:
        pass
    text = data.decode("utf-8", "replace").strip().splitlines()
    return plain(text[0][:200]) if text else "(empty body)"


def _ssl_reason(exc: BaseException) -> str:
    ssl = sys.modules.get("ssl")
    if ssl is not None and isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason).lower().replace("_", " ")
    return str(getattr(exc, "strerror", None) or exc)


def _demux(raw: bytes) -> bytes:
    """Join the stdout/stderr frames of a non-TTY attach stream."""
    out = bytearray()
    i = 0
    while i + 8 <= len(raw) and raw[i] in (0, 1, 2) and raw[i + 1 : i + 4] == b"\0\0\0":
        size = int.from_bytes(raw[i + 4 : i + 8], "big")
        out += raw[i + 8 : i + 8 + size]
        i += 8 + size
    return bytes(out) if i else raw


def host_endpoint(host: PollerHost, cfg: Config, timeout: Optional[float] = None) -> Endpoint:
    """The Docker endpoint of an inventory host: ``poller_docker_url`` if set, else
    tcp://ADDRESS:PORT with the fleet's TLS settings (``poller_docker_tls_dir`` per host)."""
    tls_dir = host.vars.get("poller_docker_tls_dir") or cfg.docker.tls_dir
    return endpoint_for(
        host.address,
        host.docker_url,
        str(tls_dir) if tls_dir else None,
        no_tls=not cfg.docker.tls,
        port=cfg.docker.port,
        timeout=timeout or cfg.docker.timeout,
        api_version=cfg.docker.api_version,
        ssh_config=cfg.docker.ssh_config,
    )
