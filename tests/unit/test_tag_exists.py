"""images/tag-exists.py against registries that answer with a Bearer (token) challenge, as Harbor,
GitLab or Docker Hub do: a stand-in on 127.0.0.1 for that one edge (the Basic-auth and TLS paths
run against the real test registry in tests/integration/test_build_script.py)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.helpers import ROOT

SCRIPT = ROOT / "images" / "tag-exists.py"
BASIC = "Basic " + base64.b64encode(b"puller:right").decode()


class TokenRegistry(BaseHTTPRequestHandler):
    realm = ""

    def log_message(self, *args: object) -> None:
        pass

    def _answer(self, code: int, headers: dict[str, str] | None = None, body: bytes = b"") -> None:
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self) -> None:
        if self.headers.get("Authorization") == "Bearer good-token":
            code = 200 if self.path == "/v2/team/engine/manifests/19.04.5-1" else 404
            return self._answer(code)
        challenge = f'Bearer realm="{self.server.realm}",service="registry",scope="repository:team/engine:pull"'  # type: ignore[attr-defined]
        return self._answer(401, {"WWW-Authenticate": challenge})

    def do_GET(self) -> None:
        if self.path.startswith("/token?") and "scope=repository%3Ateam%2Fengine%3Apull" in self.path:
            if self.headers.get("Authorization") == BASIC:
                return self._answer(200, {"Content-Type": "application/json"}, b'{"token": "good-token"}')
            return self._answer(401)
        return self._answer(404)


@pytest.fixture
def registry() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), TokenRegistry)
    server.realm = f"http://127.0.0.1:{server.server_address[1]}/token"  # type: ignore[attr-defined]
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield server
    server.shutdown()
    server.server_close()


def ask(
    server: ThreadingHTTPServer, tmp_path: Path, tag: str, config: dict[str, object]
) -> subprocess.CompletedProcess[str]:
    (tmp_path / "config.json").write_text(json.dumps(config))
    name = f"127.0.0.1:{server.server_address[1]}"
    env = {**os.environ, "DOCKER_CONFIG": str(tmp_path), "REGISTRY_URL": f"http://{name}",
           "DOCKER_CERTS_D": str(tmp_path / "certs.d"), "PATH": f"{tmp_path}:{os.environ['PATH']}"}  # fmt: skip
    return subprocess.run(
        [sys.executable, str(SCRIPT), name, "team/engine", tag], env=env, capture_output=True, text=True, timeout=30
    )


def auths(server: ThreadingHTTPServer, secret: str) -> dict[str, object]:
    auth = base64.b64encode(f"puller:{secret}".encode()).decode()
    return {"auths": {f"127.0.0.1:{server.server_address[1]}": {"auth": auth}}}


def test_a_token_is_fetched_with_docker_s_credentials(registry: ThreadingHTTPServer, tmp_path: Path) -> None:
    assert ask(registry, tmp_path, "19.04.5-1", auths(registry, "right")).returncode == 0  # exists
    assert ask(registry, tmp_path, "19.04.5-2", auths(registry, "right")).returncode == 1  # does not


def test_wrong_or_no_credentials_are_a_refusal(registry: ThreadingHTTPServer, tmp_path: Path) -> None:
    r = ask(registry, tmp_path, "19.04.5-1", auths(registry, "bad-s3cret"))
    assert r.returncode == 2 and "the token service refused the credentials (HTTP 401)" in r.stderr
    assert "bad-s3cret" not in r.stderr
    assert ask(registry, tmp_path, "19.04.5-1", {}).returncode == 2


def test_a_credential_helper_is_asked(registry: ThreadingHTTPServer, tmp_path: Path) -> None:
    helper = tmp_path / "docker-credential-fake"
    helper.write_text('#!/bin/sh\ncat >/dev/null\necho \'{"Username": "puller", "Secret": "right"}\'\n')
    helper.chmod(0o755)
    assert ask(registry, tmp_path, "19.04.5-1", {"credsStore": "fake"}).returncode == 0


def test_a_token_realm_that_is_no_web_address_gets_no_credentials(
    registry: ThreadingHTTPServer, tmp_path: Path
) -> None:
    registry.realm = "file:///etc/passwd"  # type: ignore[attr-defined]
    r = ask(registry, tmp_path, "19.04.5-1", auths(registry, "right"))
    assert r.returncode == 2 and "credentials are not sent there" in r.stderr
