"""From -H/--docker-url/--tls-dir/--no-tls to an endpoint; plain TCP only when asked for."""

from __future__ import annotations

from pathlib import Path

import pytest

from pollerfleet.clients.docker import UsageError, _demux, endpoint_for


@pytest.fixture
def tls_dir(tmp_path: Path) -> Path:
    for f in ("ca.pem", "cert.pem", "key.pem"):
        (tmp_path / f).write_text("x")
    return tmp_path


def test_host_means_tls_on_2376(tls_dir: Path) -> None:
    ep = endpoint_for("poller01.example", tls_dir=tls_dir)
    assert ep.url == "tcp://poller01.example:2376" and ep.tls is not None and ep.tls.ca == tls_dir / "ca.pem"


def test_ipv6_host_is_bracketed(tls_dir: Path) -> None:
    assert endpoint_for("fd00::5", tls_dir=tls_dir, port=2400).url == "tcp://[fd00::5]:2400"


@pytest.mark.parametrize(
    ("host", "message"),
    [
        ("unix:///x.sock", r"-H takes a host name or an IP address, not 'unix:///x.sock': a URL goes to --docker-url"),
        ("tcp://poller01:2376", r"not 'tcp://poller01:2376': a URL goes to --docker-url"),
        ("poller 01", r"-H takes a host name or an IP address, not 'poller 01'$"),
        ("-poller01", r"not '-poller01'$"),
        ("fd00::5]", r"not 'fd00::5]'$"),
    ],
)
def test_h_that_is_no_host_is_one_line(host: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        endpoint_for(host, no_tls=True)


@pytest.mark.parametrize("host", ["10.0.0.5", "fd00::5", "[fd00::5]", "poller-01.example.org", "poller_01"])
def test_h_takes_names_and_addresses(host: str) -> None:
    assert endpoint_for(host, no_tls=True).url.startswith("tcp://")


def test_host_without_tls_material_is_refused() -> None:
    with pytest.raises(UsageError, match=r"needs TLS: give --tls-dir"):
        endpoint_for("poller01")


def test_no_tls_allows_plain_tcp() -> None:
    ep = endpoint_for("poller01", no_tls=True)
    assert ep.tls is None and ep.url == "tcp://poller01:2376"


@pytest.mark.parametrize("url", ["unix:///var/run/docker.sock", "ssh://root@poller01", "ssh://poller01:2222"])
def test_socket_and_ssh_need_no_tls(url: str) -> None:
    assert endpoint_for(None, url).tls is None


def test_https_url_is_tcp_with_tls(tls_dir: Path) -> None:
    assert endpoint_for(None, "https://h:2376", tls_dir).url == "tcp://h:2376"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("unix://", "names no socket path"),
        ("ssh://", "names no host"),
        ("tcp://h", "must be tcp://HOST:PORT"),
        ("tcp://h:99999", "must be tcp://HOST:PORT"),
        ("gopher://h", "unsupported Docker URL"),
        ("tcp://[fd00::5:2376", r"cannot be read: Invalid IPv6 URL"),
    ],
)
def test_bad_urls(url: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        endpoint_for(None, url, no_tls=True)


def test_missing_tls_file_is_named(tls_dir: Path) -> None:
    (tls_dir / "key.pem").unlink()
    with pytest.raises(UsageError, match=rf"TLS file {tls_dir}/key.pem is missing"):
        endpoint_for("h", tls_dir=tls_dir)


def test_demux_joins_frames() -> None:
    frames = b"\x01\0\0\0\0\0\0\x03abc" + b"\x02\0\0\0\0\0\0\x02de"
    assert _demux(frames) == b"abcde"
    assert _demux(b"plain tty output") == b"plain tty output"
