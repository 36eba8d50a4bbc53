"""check_docker_host and the transport failures every plugin shares, against real daemons."""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path

import pytest

from tests.helpers import Docker, run_plugin

PLUGINS = ["check_poller_container", "check_docker_host"]
LABELS = {"check_poller_container": "CONTAINER", "check_docker_host": "DOCKER"}


@pytest.fixture(scope="module")
def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    return port


@pytest.mark.docker
def test_docker_host_ok_golden(docker: Docker) -> None:
    r = run_plugin("check_docker_host", "--docker-url", docker.host)
    assert r.rc == 0 and r.err == ""
    assert re.fullmatch(
        r"DOCKER OK - Docker \S+ \(API 1\.\d+\) answered in [\d.]+ ms, \d+/\d+ containers running \| "
        r"containers_running=\d+;;;0 containers_total=\d+;;;0 latency=[\d.]+ms;;;0\n",
        r.out,
    ), r.out


@pytest.mark.docker
def test_docker_host_min_api_version_and_latency_thresholds(docker: Docker) -> None:
    r = run_plugin("check_docker_host", "--docker-url", docker.host, "--min-api-version", "9.99")
    assert r.rc == 2
    assert re.match(r"DOCKER CRITICAL - Docker \S+ \(API (1\.\d+)\) .*; API \1 is older than 9\.99 \|", r.out)
    r = run_plugin("check_docker_host", "--docker-url", docker.host, "--min-api-version", "1.24")
    assert r.rc == 0
    r = run_plugin("check_docker_host", "--docker-url", docker.host, "-w", "0.0001")
    assert r.rc == 1
    assert re.match(r"DOCKER WARNING - _ping took [\d.]+ ms \(outside range 0:0.0001\); Docker ", r.out)
    assert "latency=" in r.out and ";0.0001;;0" in r.out


@pytest.mark.docker
def test_docker_host_counts_containers(docker: Docker) -> None:
    docker.run("count-me")
    r = run_plugin("check_docker_host", "--docker-url", docker.tcp, "--no-tls")
    running = int(re.search(r"containers_running=(\d+)", r.out).group(1))  # type: ignore[union-attr]
    assert running >= 1


@pytest.mark.tls
def test_tls_with_client_certificate(tls_env: dict[str, str], tls_dirs: dict[str, Path]) -> None:
    r = run_plugin(
        "check_docker_host", "--docker-url", tls_env["PFT_DOCKER_TLS_TCP"], "--tls-dir", str(tls_dirs["client"])
    )
    assert r.rc == 0, r.out
    assert r.line.startswith("DOCKER OK - Docker ")


@pytest.mark.tls
def test_tls_via_host_and_config_defaults(tls_env: dict[str, str], tls_dirs: dict[str, Path], tmp_path: Path) -> None:
    port = tls_env["PFT_DOCKER_TLS_TCP"].rsplit(":", 1)[1]
    cfg = tmp_path / "fleet.toml"
    cfg.write_text(f'[docker]\nport = {port}\ntls_dir = "{tls_dirs["client"]}"\n')
    r = run_plugin("check_docker_host", "-H", "127.0.0.1", "--config", str(cfg))
    assert r.rc == 0, r.out
    r = run_plugin("check_docker_host", "-H", "127.0.0.1", env={"POLLERFLEET_CONFIG": str(cfg)})
    assert r.rc == 0, r.out


@pytest.mark.tls
@pytest.mark.parametrize("plugin", PLUGINS)
def test_tls_with_wrong_ca_is_unknown(plugin: str, tls_env: dict[str, str], tls_dirs: dict[str, Path]) -> None:
    url = tls_env["PFT_DOCKER_TLS_TCP"]
    r = run_plugin(plugin, "--docker-url", url, "--tls-dir", str(tls_dirs["wrongca"]))
    assert r.rc == 3 and r.err == ""
    assert r.out == (
        f"{LABELS[plugin]} UNKNOWN - TLS verification of docker at {url} failed: "
        "unable to get local issuer certificate\n"
    )


@pytest.mark.tls
@pytest.mark.parametrize("plugin", PLUGINS)
def test_tls_with_untrusted_client_certificate_is_unknown(
    plugin: str, tls_env: dict[str, str], tls_dirs: dict[str, Path]
) -> None:
    url = tls_env["PFT_DOCKER_TLS_TCP"]
    r = run_plugin(plugin, "--docker-url", url, "--tls-dir", str(tls_dirs["badclient"]))
    assert r.rc == 3 and r.err == ""
    assert re.fullmatch(
        rf"{LABELS[plugin]} UNKNOWN - (TLS handshake with docker at {url} failed: .*bad "
        rf"certificate|docker at {url} closed the connection: .*)\n",
        r.out,
    ), r.out


@pytest.mark.tls
def test_tls_without_client_certificate_files_is_refused_before_connecting(
    tmp_path: Path, tls_dirs: dict[str, Path], tls_env: dict[str, str]
) -> None:
    (tmp_path / "ca.pem").write_bytes((tls_dirs["client"] / "ca.pem").read_bytes())
    r = run_plugin("check_docker_host", "--docker-url", tls_env["PFT_DOCKER_TLS_TCP"], "--tls-dir", str(tmp_path))
    assert r.rc == 3
    assert (
        r.out
        == f"DOCKER UNKNOWN - TLS file {tmp_path}/cert.pem is missing (--tls-dir needs ca.pem, cert.pem, key.pem)\n"
    )


@pytest.mark.tls
def test_tls_client_against_plain_daemon(docker: Docker, tls_dirs: dict[str, Path]) -> None:
    r = run_plugin("check_docker_host", "--docker-url", docker.tcp, "--tls-dir", str(tls_dirs["client"]))
    assert r.rc == 3
    assert r.out == (
        f"DOCKER UNKNOWN - docker at {docker.tcp} does not speak TLS: that port answers in plain HTTP (a daemon "
        "without --tlsverify); use --no-tls only if it really is unencrypted\n"
    )


@pytest.mark.parametrize("plugin", PLUGINS)
def test_refused_port_is_unknown(plugin: str, closed_port: int) -> None:
    url = f"tcp://127.0.0.1:{closed_port}"
    r = run_plugin(plugin, "--docker-url", url, "--no-tls")
    assert (r.rc, r.out, r.err) == (
        3,
        f"{LABELS[plugin]} UNKNOWN - connection to docker at {url} refused (is dockerd listening there?)\n",
        "",
    )


@pytest.mark.parametrize("plugin", PLUGINS)
def test_missing_socket_is_unknown(plugin: str, tmp_path: Path) -> None:
    r = run_plugin(plugin, "--docker-url", f"unix://{tmp_path}/docker.sock")
    assert (r.rc, r.out) == (3, f"{LABELS[plugin]} UNKNOWN - no Docker socket at unix://{tmp_path}/docker.sock\n")


@pytest.mark.parametrize("plugin", PLUGINS)
def test_hanging_daemon_is_unknown_within_timeout(plugin: str, hanging_port: int) -> None:
    start = time.monotonic()
    r = run_plugin(plugin, "--docker-url", f"tcp://127.0.0.1:{hanging_port}", "--no-tls", "-t", "2")
    elapsed = time.monotonic() - start
    assert r.rc == 3 and r.err == ""
    assert re.fullmatch(
        rf"{LABELS[plugin]} UNKNOWN - (no answer within 2 s \(-t\)|docker at "
        rf"tcp://127.0.0.1:{hanging_port} did not answer within 2 s)\n",
        r.out,
    ), r.out
    # the -t contract (bounded by t + 1 s plus interpreter start) is what is checked, not speed
    assert elapsed < 2 + 1 + 2, elapsed


# -- the state says what happened ------------------------------------------------------------------
def test_a_web_server_answering_404_is_unknown_not_a_missing_container(tmp_path: Path) -> None:
    """A plain web server (python's http.server) where a Docker daemon was expected."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    web = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    try:
        url = f"tcp://127.0.0.1:{web.server_address[1]}"
        r = run_plugin("check_poller_container", "--docker-url", url, "--no-tls")
        assert (r.rc, r.err) == (3, "")
        assert r.line.startswith(
            f"CONTAINER UNKNOWN - {url} answered HTTP 404 to /containers/centreon-engine/json without Docker's "
            "error body ("
        ), r.out
        assert r.line.endswith("): is a Docker daemon listening there?"), r.out
    finally:
        web.shutdown()
        web.server_close()


def _openssl(*args: str, cwd: Path) -> None:
    import subprocess

    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def pem_pairs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("pem")
    for name in ("one", "two"):
        _openssl(
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
            "-subj", f"/CN={name}", "-keyout", f"{name}-key.pem", "-out", f"{name}-cert.pem", cwd=d,
        )  # fmt: skip
    return d


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        (b"", "TLS file {dir}/key.pem is empty"),
        (b"not a key\n", "TLS file {dir}/key.pem is not PEM (no -----BEGIN line): not a private key"),
        ("cert", "TLS file {dir}/key.pem holds no private key (a certificate in its place?)"),
        ("other", "TLS files in {dir} cannot be used: {dir}/key.pem is not the key of {dir}/cert.pem"),
    ],
)
def test_unusable_key_pem_is_named_with_what_is_wrong(
    pem_pairs: Path, tmp_path: Path, closed_port: int, key: object, reason: str
) -> None:
    tls = tmp_path / "tls"
    tls.mkdir()
    (tls / "ca.pem").write_bytes((pem_pairs / "one-cert.pem").read_bytes())
    (tls / "cert.pem").write_bytes((pem_pairs / "one-cert.pem").read_bytes())
    sources = {"cert": pem_pairs / "one-cert.pem", "other": pem_pairs / "two-key.pem"}
    (tls / "key.pem").write_bytes(sources[key].read_bytes() if isinstance(key, str) else key)  # type: ignore[arg-type]
    r = run_plugin("check_docker_host", "--docker-url", f"tcp://127.0.0.1:{closed_port}", "--tls-dir", str(tls))
    assert (r.rc, r.err) == (3, "")
    assert r.line == f"DOCKER UNKNOWN - {reason.format(dir=tls)} (--tls-dir needs ca.pem, cert.pem, key.pem)" or (
        r.line == f"DOCKER UNKNOWN - {reason.format(dir=tls)}"
    ), r.out
    assert "PEM lib" not in r.out and "_ssl.c" not in r.out


def test_a_proxy_answering_a_json_404_is_unknown_too() -> None:
    """A JSON error body alone is not Docker's: only its 'No such container' means missing."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class NotFound(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b'{"message": "route not found"}'
            self.send_response(404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return

    proxy = ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        url = f"tcp://127.0.0.1:{proxy.server_address[1]}"
        r = run_plugin("check_poller_container", "--docker-url", url, "--no-tls", "-n", "centreon-engine")
        assert (r.rc, r.err) == (3, "")
        assert r.line == (
            f"CONTAINER UNKNOWN - {url} answered HTTP 404 to /containers/centreon-engine/json without Docker's "
            "error body (route not found): is a Docker daemon listening there?"
        ), r.out
    finally:
        proxy.shutdown()
        proxy.server_close()
