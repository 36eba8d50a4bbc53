"""An HTTP gateway on 127.0.0.1 in front of the real test registry: it counts requests, can demand
the bearer-token flow (as Docker Hub or Harbor do: 401 + ``WWW-Authenticate: Bearer realm=...``,
a token endpoint behind basic auth), or can answer garbage. The registry behind it is real."""

from __future__ import annotations

import base64
import json
import secrets
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional

import requests


class Gateway:
    def __init__(
        self,
        upstream: str,
        mode: str = "proxy",
        user: str = "",
        password: str = "",
        *,
        tls: Optional[tuple[str, str]] = None,
        realm: str = "",
        host: str = "127.0.0.1",
        headers: Optional[dict[str, str]] = None,
        link: str = "",
        basic: bool = False,
        redirect: str = "",
        body_size: int = 0,
    ) -> None:
        """TLS: (certificate, key) files to serve https; REALM: the token service the bearer
        challenge names (default: this gateway's /token); HOST: another loopback address.
        A hostile registry: HEADERS replace the registry's in every answer (a forged digest); LINK
        is what paginate's next links start with (another origin); BASIC demands USER:PASSWORD
        by HTTP basic auth; mode redirect answers 302 to REDIRECT + the path; mode huge answers
        BODY_SIZE bytes of JSON padding."""
        self.upstream = upstream.rstrip("/")
        self.realm, self.host, self.scheme = realm, host, "https" if tls else "http"
        self.mode = mode  # proxy, bearer, garbage, error500, paginate, redirect, huge
        self.headers, self.link, self.basic, self.redirect, self.body_size = (
            headers or {},
            link,
            basic,
            redirect,
            body_size,
        )
        self.authorizations: list[str] = []  # every Authorization header received
        self.page = 0  # paginate: tags per page whatever the client asks (0: as asked)
        self.user, self.password = user, password
        self.token = secrets.token_hex(16)
        self.count = 0
        self.paths: list[str] = []
        self.lock = threading.Lock()
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # silence the default log
                return

            def do_HEAD(self) -> None:
                gateway.handle(self, "HEAD")

            def do_GET(self) -> None:
                gateway.handle(self, "GET")

        self.server = ThreadingHTTPServer((host, 0), Handler)
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def reset(self) -> None:
        with self.lock:
            self.count, self.paths = 0, []

    def _paginate(self, h: BaseHTTPRequestHandler, method: str) -> None:
        """Serve tags/list in pages with a Link header, as distribution v3 and Harbor do (2.8 does not)."""
        path, _, query = h.path.partition("?")
        args = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
        up = requests.get(self.upstream + path, timeout=10)
        doc = json.loads(up.content)
        tags = sorted(doc.get("tags") or [])
        n = self.page or int(args.get("n", "100"))
        last = args.get("last", "")
        page = [t for t in tags if t > last][:n] if last else tags[:n]
        headers = {"Content-Type": "application/json"}
        if page and page[-1] != tags[-1]:
            headers["Link"] = f'<{self.link}{path}?n={n}&last={page[-1]}>; rel="next"'
        self._reply(h, 200, json.dumps({"name": doc.get("name"), "tags": page}).encode(), headers, method)

    def _huge(self, h: BaseHTTPRequestHandler, method: str) -> None:
        """A JSON object of BODY_SIZE bytes, sent in pieces until the connection closes: no
        Content-Length tells the client ahead (a peer that never stops talking)."""
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Connection", "close")
        h.end_headers()
        h.close_connection = True
        if method == "HEAD":
            return
        head, tail = b'{"tags": [], "pad": "', b'"}'
        left = self.body_size - len(head) - len(tail)
        try:
            h.wfile.write(head)
            while left > 0:
                piece = min(left, 1 << 16)
                h.wfile.write(b"x" * piece)
                left -= piece
            h.wfile.write(tail)
        except OSError:
            pass  # the client stopped reading: what a bounded client does

    def _reply(
        self,
        h: BaseHTTPRequestHandler,
        status: int,
        body: bytes,
        headers: Optional[dict[str, str]] = None,
        method: str = "GET",
    ) -> None:
        h.send_response(status)
        for k, v in {**(headers or {}), **self.headers}.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if method != "HEAD":
            h.wfile.write(body)

    def handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        with self.lock:
            self.count += 1
            self.paths.append(h.path)
            if h.headers.get("Authorization"):
                self.authorizations.append(h.headers["Authorization"])
        if self.basic:
            expected = "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
            if h.headers.get("Authorization") != expected:
                return self._reply(h, 401, b"{}", {"WWW-Authenticate": 'Basic realm="pft-test"'}, method)
        if self.mode == "redirect":
            return self._reply(h, 302, b"", {"Location": self.redirect + h.path}, method)
        if self.mode == "huge":
            return self._huge(h, method)
        if self.mode == "garbage":
            return self._reply(h, 200, b"<html>this is not a registry", {"Content-Type": "text/html"}, method)
        if self.mode == "error500":
            return self._reply(
                h,
                503,
                b'{"errors":[{"code":"UNAVAILABLE","message":"maintenance"}]}',
                {"Content-Type": "application/json"},
                method,
            )
        if self.mode == "bearer":
            if h.path.startswith("/token"):
                expected = "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
                if h.headers.get("Authorization") != expected:
                    return self._reply(h, 401, b'{"details":"bad credentials"}', {}, method)
                return self._reply(
                    h, 200, f'{{"token": "{self.token}"}}'.encode(), {"Content-Type": "application/json"}, method
                )
            if h.headers.get("Authorization") != f"Bearer {self.token}":
                realm = self.realm or f"{self.url}/token"
                challenge = f'Bearer realm="{realm}",service="pft-test",scope="repository:x:pull"'
                return self._reply(
                    h,
                    401,
                    b'{"errors":[{"code":"UNAUTHORIZED"}]}',
                    {"WWW-Authenticate": challenge, "Content-Type": "application/json"},
                    method,
                )
        if self.mode == "paginate" and "/tags/list" in h.path:
            return self._paginate(h, method)
        up = requests.request(
            method,
            self.upstream + h.path,
            timeout=10,
            allow_redirects=False,
            headers={k: v for k, v in h.headers.items() if k.lower() in ("accept",)},
        )
        headers = {
            k: v
            for k, v in up.headers.items()
            if k.lower() in ("content-type", "docker-content-digest", "link", "www-authenticate", "location")
        }
        self._reply(h, up.status_code, up.content, headers, method)
