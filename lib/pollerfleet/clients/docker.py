"""Docker Engine API access for one poller host.

A small client on the standard library's ``http.client`` (``unix://``, ``tcp://`` with TLS
client certificates as Docker's own ``--tlsverify`` uses them, plain ``tcp://`` only when the
operator says ``--no-tls``) and ``ssh://`` through ``ssh HOST docker system dial-stdio``. A check
is one or two requests, so start-up time matters more than features: importing the Docker SDK
and requests would triple it.

Every call has a timeout. The API version is not negotiated: requests go to the unversioned
paths the daemon serves at its own version (or to ``/vX.Y/`` when the operator pins one), so a
check costs no extra ``/version`` round trip, and neither a CentOS 7 daemon (API 1.26) nor a
current one (minimum API 1.44) refuses us. Every failure is a DockerError with one line for
the operator.
"""

from __future__ import annotations

import atexit
import contextlib
import http.client
import io
import json
import os
import select
import socket
import ssl
import time
import urllib.parse
import weakref
from dataclasses import dataclass
from pathlib import Path

from pollerfleet.core import verbosity
from pollerfleet.core.names import plain

DEFAULT_PORT = 2376

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing at a plugin's start-up
if TYPE_CHECKING:
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


@dataclass(frozen=True)
class TLSFiles:
    """ca.pem, cert.pem and key.pem from one directory, as ``docker --tlsverify`` expects them."""

    directory: Path

    @property
    def ca(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def cert(self) -> Path:
        return self.directory / "cert.pem"

    @property
    def key(self) -> Path:
        return self.directory / "key.pem"


@dataclass(frozen=True)
class Endpoint:
    """Where one host's Docker daemon is and how to talk to it."""

    url: str
    tls: Optional[TLSFiles] = None
    timeout: float = 10.0
    api_version: str = ""
    ssh_config: Optional[Path] = None

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
    if docker_url:
        url = docker_url
    elif host:
        url = f"tcp://{_bracket(host)}:{port}"
    else:
        raise UsageError("no Docker host given: use -H HOST or --docker-url URL")
    parsed = urllib.parse.urlsplit(url)
    scheme = parsed.scheme
    if scheme not in ("unix", "tcp", "ssh", "https", "http"):
        raise UsageError(f"unsupported Docker URL {url!r}: use unix://, tcp:// or ssh://")
    if scheme == "https":
        url, scheme = "tcp://" + url.split("://", 1)[1], "tcp"
    if scheme == "http":
        if not no_tls:
            raise UsageError(f"{url} is plain HTTP; pass --no-tls to allow an unencrypted daemon")
        url, scheme = "tcp://" + url.split("://", 1)[1], "tcp"
    if scheme == "unix":
        if not parsed.path:
            raise UsageError(f"Docker URL {url!r} names no socket path")
        return Endpoint(url, None, timeout, api_version)
    if scheme == "ssh":
        if not parsed.hostname:
            raise UsageError(f"Docker URL {url!r} names no host")
        return Endpoint(url, None, timeout, api_version, ssh_config)
    try:
        if not parsed.hostname or parsed.port is None:
            raise ValueError
    except ValueError:
        raise UsageError(f"Docker URL {url!r} must be tcp://HOST:PORT") from None
    if no_tls:
        return Endpoint(url, None, timeout, api_version)
    if not tls_dir:
        raise UsageError(
            f"{url} needs TLS: give --tls-dir DIR (ca.pem, cert.pem, key.pem), "
            "or --no-tls for a daemon that really listens unencrypted"
        )
    tls = TLSFiles(Path(tls_dir))
    for f in (tls.ca, tls.cert, tls.key):
        if not f.is_file():
            raise UsageError(f"TLS file {f} is missing (--tls-dir needs ca.pem, cert.pem, key.pem)")
    return Endpoint(url, tls, timeout, api_version)


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


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


class _PipeReader(io.RawIOBase):
    """ssh's stdout as http.client reads a socket: every read bounded by the timeout."""

    def __init__(self, fd: int, timeout: float) -> None:
        super().__init__()
        self._fd = os.dup(fd)
        self._timeout = timeout

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        ready, _, _ = select.select([self._fd], [], [], self._timeout)
        if not ready:
            raise socket.timeout("timed out")
        data = os.read(self._fd, len(buf))
        buf[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            os.close(self._fd)
        super().close()


class _PipeSocket:
    """The socket face http.client needs, over ``ssh HOST docker system dial-stdio``."""

    def __init__(self, proc: subprocess.Popen[bytes], timeout: float) -> None:
        if proc.stdin is None or proc.stdout is None:
            raise DockerError("ssh was started without pipes")
        self._proc = proc
        self._stdin = proc.stdin
        self._stdout = proc.stdout
        self._timeout = timeout

    def sendall(self, data: bytes) -> None:
        self._stdin.write(data)
        self._stdin.flush()

    def makefile(self, mode: str, *args: Any, **kwargs: Any) -> Any:
        # http.client closes the file of each response: hand it its own descriptor on the pipe
        # (the daemon writes only in answer to a request, so nothing is read ahead and lost)
        return io.BufferedReader(_PipeReader(self._stdout.fileno(), self._timeout))

    def shutdown(self, how: int) -> None:
        """From another thread (the sweep's per-host deadline): end the ssh child, so reads end."""
        if self._proc.poll() is None:
            self._proc.kill()

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        for pipe in (self._stdin, self._stdout):
            with contextlib.suppress(OSError):
                pipe.close()


class _SSHConnection(http.client.HTTPConnection):
    def __init__(self, target: str, port: Optional[int], timeout: float, config: Optional[Path] = None) -> None:
        super().__init__("localhost", timeout=timeout)
        self._argv = [
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
            self._argv += ["-F", str(config)]
        if port:
            self._argv += ["-p", str(port)]
        self._argv += ["--", target, "docker", "system", "dial-stdio"]

    def connect(self) -> None:
        import subprocess  # only ssh:// starts a child: unix:// and tcp:// runs are spared the import

        proc = subprocess.Popen(self._argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        _SSH_CHILDREN.add(proc)
        self.sock = _PipeSocket(proc, float(self.timeout or 10.0))


class DockerClient:
    """A connection to one daemon; use as a context manager or call close()."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self._conn: Optional[http.client.HTTPConnection] = None
        self._prefix = f"/v{endpoint.api_version}" if endpoint.api_version else ""

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
        sock = getattr(self._conn, "sock", None)
        if isinstance(sock, _PipeSocket):
            sock.shutdown(socket.SHUT_RDWR)
        elif isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):  # the plain socket's shutdown: an SSLSocket's would drop its state
                socket.socket.shutdown(sock, socket.SHUT_RDWR)

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

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is not None:
            return self._conn
        ep = self.endpoint
        parsed = urllib.parse.urlsplit(ep.url)
        if ep.scheme == "unix":
            self._conn = _UnixConnection(parsed.path, ep.timeout)
        elif ep.scheme == "ssh":
            target = f"{parsed.username}@{parsed.hostname}" if parsed.username else parsed.hostname
            self._conn = _SSHConnection(str(target), parsed.port, ep.timeout, ep.ssh_config)
        elif ep.tls is not None:
            self._conn = http.client.HTTPSConnection(
                str(parsed.hostname), parsed.port, timeout=ep.timeout, context=_tls_context(ep.tls)
            )
        else:
            self._conn = http.client.HTTPConnection(str(parsed.hostname), parsed.port, timeout=ep.timeout)
        return self._conn

    def _request(self, method: str, path: str, body: Optional[dict[str, Any]] = None, raw: bool = False) -> Any:
        where = self.endpoint
        headers = {"Host": "docker", "User-Agent": "pollerfleet"}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        start = time.monotonic()
        try:
            try:
                conn = self._connection()
                conn.request(method, self._prefix + path, payload, headers)
                resp = conn.getresponse()
                data = resp.read()
            except Exception as exc:
                verbosity.request(method, f"{where}{self._prefix}{path}", None, time.monotonic() - start, repr(exc))
                raise
            verbosity.request(method, f"{where}{self._prefix}{path}", resp.status, time.monotonic() - start)
        except DockerError:
            self.close()
            raise
        except (socket.timeout, TimeoutError):
            self.close()
            raise DockerError(f"docker at {where} did not answer within {where.timeout:g} s") from None
        except ssl.SSLCertVerificationError as exc:
            self.close()
            raise DockerError(f"TLS verification of docker at {where} failed: {exc.verify_message}") from None
        except ssl.SSLError as exc:
            self.close()
            if _not_tls(exc):
                raise DockerError(
                    f"docker at {where} does not speak TLS: that port answers in plain HTTP (a daemon without "
                    "--tlsverify); use --no-tls only if it really is unencrypted"
                ) from None
            raise DockerError(f"TLS handshake with docker at {where} failed: {_ssl_reason(exc)}") from None
        except ConnectionRefusedError:
            self.close()
            raise DockerError(f"connection to docker at {where} refused (is dockerd listening there?)") from None
        except FileNotFoundError:
            self.close()
            raise DockerError(f"no Docker socket at {where}") from None
        except PermissionError:
            self.close()
            raise DockerError(f"permission denied on {where}") from None
        except socket.gaierror as exc:
            self.close()
            raise DockerError(f"cannot resolve the host of {where}: {exc.strerror}") from None
        except (http.client.HTTPException, ConnectionError) as exc:
            self.close()
            reason = type(exc).__name__ if not str(exc) else str(exc)
            raise DockerError(f"docker at {where} closed the connection: {reason}") from None
        except OSError as exc:
            self.close()
            raise DockerError(f"cannot talk to docker at {where}: {exc.strerror or exc}") from None
        if resp.status >= 400:
            message = _error_message(data)
            if resp.status == 404 and not _docker_error_body(data):
                raise DockerError(
                    f"{where} answered HTTP 404 to {path} without Docker's error body ({message}): "
                    "is a Docker daemon listening there?"
                )
            cls = NotFound if resp.status == 404 else DockerError
            raise cls(f"docker at {where} answered HTTP {resp.status} to {path}: {message}")
        if raw:
            return data
        try:
            return _plain_json(json.loads(data))
        except ValueError:
            raise DockerError(f"malformed answer from docker at {where} to {path}: not JSON") from None


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


def _plain_json(doc: Any) -> Any:
    """Every string the daemon sent (health check output, error texts, labels) without control characters."""
    if isinstance(doc, str):
        return plain(doc)
    if isinstance(doc, list):
        return [_plain_json(v) for v in doc]
    if isinstance(doc, dict):
        return {plain(k): _plain_json(v) for k, v in doc.items()}
    return doc


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
    if isinstance(exc, ssl.SSLError) and exc.reason:
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
