"""Transport rules every peer obeys (registry, Jenkins, upstream repository, Docker): no redirect
from https to plain HTTP, a scheme compared case-insensitively, a bounded answer. Real servers on
127.0.0.1: the test registry and the Jenkins stand-in behind a gateway that redirects or talks
without end, a real RPM-md repository."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import pytest

from pollerfleet.clients.jenkins import JenkinsClient, JenkinsError
from pollerfleet.clients.upstream import UpstreamError, UpstreamRepo
from pollerfleet.core.config import JenkinsSettings
from tests.helpers import Docker, run_plugin
from tests.registry_tools import build_and_push
from tests.standins.gateway import Gateway
from tests.standins.jenkins import JenkinsStandin, Job
from tests.upstream_repo import Server, build_rpm, make_repo

MIB = 1024 * 1024
JOB = "deploy-centreon-poller"
TOKEN = "tr4nsport-token"


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    top = tmp_path_factory.mktemp("rpmbuild")
    root = tmp_path_factory.mktemp("www")
    make_repo(root / "gz", [build_rpm(top, "centreon-engine", "19.04.5")], "gz")
    # a compression bomb: a few kilobytes on the wire, many mebibytes to parse
    make_repo(root / "bomb", [build_rpm(top, "centreon-engine", "19.04.5")], "gz")
    primary = next((root / "bomb" / "repodata").glob("*primary.xml.gz"))
    primary.write_bytes(gzip.compress(b"<metadata>" + b" " * (8 * MIB) + b"</metadata>"))
    server = Server(root)
    yield server, root
    server.stop()


@pytest.fixture(scope="module")
def certs() -> tuple[str, str, str]:
    """(certificate, key, CA) of the TLS test registry's own CA: a gateway serves https with them."""
    from tests.helpers import env_script

    d = Path(env_script("registry.sh", "start-auth")["PFT_REGISTRY_AUTH_DIR"])
    return str(d / "server-cert.pem"), str(d / "server-key.pem"), str(d / "ca.pem")


def jenkins(tmp: Path, url: str, ca: str = "") -> JenkinsClient:
    token = tmp / "jenkins.token"
    token.write_text(TOKEN + "\n")
    token.chmod(0o600)
    return JenkinsClient(
        JenkinsSettings(
            url=url, user="pollerfleet", token_file=token, ca_file=Path(ca) if ca else None, allow_http=True
        )
    )


def origin(url: str) -> str:
    return url.rstrip("/")


# -- schemes ---------------------------------------------------------------------------------------
@pytest.mark.upstream
def test_an_upstream_url_in_capitals_is_still_plain_http(upstream: tuple[Server, Path]) -> None:
    server, _ = upstream
    url = server.url.replace("http://", "HTTP://") + "/gz"
    r = run_plugin("check_engine_release", "--upstream", url, "--registry", "http://127.0.0.1:9")
    assert (r.rc, r.err) == (3, "")
    assert r.line == (
        f"RELEASE UNKNOWN - upstream repository {url} is plain HTTP: its package list could be altered "
        "on the way; set [upstream] allow_http = true only if no https mirror exists"
    )


@pytest.mark.jenkins
def test_a_jenkins_url_in_capitals_is_still_plain_http(tmp_path: Path) -> None:
    token = tmp_path / "jenkins.token"
    token.write_text(TOKEN + "\n")
    token.chmod(0o600)
    from pollerfleet.core.config import ConfigError

    with pytest.raises(ConfigError, match=r"is plain HTTP: the API token would travel in clear"):
        JenkinsClient(JenkinsSettings(url="HTTP://127.0.0.1:9/", user="pollerfleet", token_file=token))


# -- no redirect from https to http ----------------------------------------------------------------
@pytest.mark.docker
@pytest.mark.registry
def test_the_registry_never_follows_a_redirect_to_plain_http(
    docker: Docker, registry: str, certs: tuple[str, str, str], tmp_path: Path
) -> None:
    name = f"{docker.prefix.rstrip('-')}/transport"
    build_and_push(docker, f"{registry}/{name}:19.04.1", "19.04.1")
    c = docker.run("transport", image=f"{registry}/{name}:19.04.1")
    plain = Gateway(f"http://{registry}")
    tls = Gateway(f"http://{registry}", mode="redirect", tls=certs[:2], redirect=plain.url)
    try:
        cfg = tmp_path / "fleet.toml"
        cfg.write_text(f'[registry]\nurl = "{tls.url}"\nca_file = "{certs[2]}"\ncache_dir = "{tmp_path / "cache"}"\n')
        r = run_plugin("check_poller_image", "--docker-url", docker.host, "-n", c, "--config", str(cfg), "--no-cache")
        assert (r.rc, r.err) == (3, ""), r.out
        assert r.line == (
            f"IMAGE UNKNOWN - {tls.url} redirected to {plain.url}: a redirect from https to plain HTTP is refused "
            f"(list the tags of {name})"
        )
        assert plain.paths == []
    finally:
        tls.stop()
        plain.stop()


@pytest.mark.jenkins
def test_jenkins_never_follows_a_redirect_to_plain_http(certs: tuple[str, str, str], tmp_path: Path) -> None:
    standin = JenkinsStandin({"pollerfleet": TOKEN}, [Job(JOB, ["HOSTNAME"])]).start()
    tls = Gateway("http://127.0.0.1:9", mode="redirect", tls=certs[:2], redirect=origin(standin.url))
    try:
        with pytest.raises(JenkinsError) as err:
            jenkins(tmp_path, tls.url + "/", certs[2]).builds(JOB)
        assert str(err.value) == (
            f"Jenkins at {tls.url}/: {tls.url} redirected to {origin(standin.url)}: a redirect from https to plain "
            f"HTTP is refused (read the builds of {JOB})"
        )
        assert standin.requests == []  # the API token never went there
    finally:
        tls.stop()
        standin.stop()


@pytest.mark.upstream
def test_upstream_never_follows_a_redirect_to_plain_http(
    upstream: tuple[Server, Path], certs: tuple[str, str, str]
) -> None:
    server, _ = upstream
    tls = Gateway("http://127.0.0.1:9", mode="redirect", tls=certs[:2], redirect=server.url)
    try:
        with pytest.raises(UpstreamError) as err:
            UpstreamRepo(tls.url + "/gz", verify=certs[2]).packages("centreon-engine")
        assert str(err.value) == (
            f"{tls.url} redirected to {server.url}: a redirect from https to plain HTTP is refused (repomd.xml)"
        )
    finally:
        tls.stop()


# -- bounded answers -------------------------------------------------------------------------------
@pytest.mark.docker
@pytest.mark.registry
def test_a_registry_that_never_stops_talking_is_unknown(docker: Docker, registry: str, tmp_path: Path) -> None:
    name = f"{docker.prefix.rstrip('-')}/endless"
    build_and_push(docker, f"{registry}/{name}:19.04.1", "19.04.1")
    c = docker.run("endless", image=f"{registry}/{name}:19.04.1")
    gw = Gateway(f"http://{registry}", mode="huge", body_size=17 * MIB)
    try:
        cfg = tmp_path / "fleet.toml"
        cfg.write_text(f'[registry]\nurl = "{gw.url}"\nallow_http = true\ncache_dir = "{tmp_path / "cache"}"\n')
        r = run_plugin("check_poller_image", "--docker-url", docker.host, "-n", c, "--config", str(cfg), "--no-cache")
        assert (r.rc, r.err) == (3, ""), r.out
        assert r.line == (
            f"IMAGE UNKNOWN - {gw.url} sent more than 16 MiB in one answer: refused (list the tags of {name})"
        )
    finally:
        gw.stop()


def test_a_docker_daemon_that_never_stops_talking_is_unknown() -> None:
    gw = Gateway("http://127.0.0.1:9", mode="huge", body_size=17 * MIB)
    daemon = gw.url.replace("http://", "tcp://")
    try:
        r = run_plugin("check_poller_container", "--docker-url", daemon, "--no-tls", "-n", "centreon-engine")
        assert (r.rc, r.err) == (3, ""), r.out
        assert (
            r.line
            == f"CONTAINER UNKNOWN - docker at {daemon} closed the connection: an answer of more than 16 MiB: not read"
        )
    finally:
        gw.stop()


@pytest.mark.jenkins
def test_a_jenkins_that_never_stops_talking_is_one_line(tmp_path: Path) -> None:
    gw = Gateway("http://127.0.0.1:9", mode="huge", body_size=17 * MIB)
    try:
        with pytest.raises(JenkinsError) as err:
            jenkins(tmp_path, gw.url + "/").builds(JOB)
        assert str(err.value) == (
            f"Jenkins at {gw.url}/: {gw.url} sent more than 16 MiB in one answer: refused (read the builds of {JOB})"
        )
    finally:
        gw.stop()


@pytest.mark.upstream
def test_the_upstream_bound_holds_for_what_is_decompressed(upstream: tuple[Server, Path]) -> None:
    server, _ = upstream
    repo = UpstreamRepo(server.url + "/bomb", max_bytes=1 * MIB)
    with pytest.raises(UpstreamError, match=r"primary.xml.gz decompresses to more than the 1 MiB download bound"):
        repo.packages("centreon-engine")
    assert [p.version for p in UpstreamRepo(server.url + "/gz", max_bytes=1 * MIB).packages("centreon-engine")] == [
        "19.04.5"
    ]
