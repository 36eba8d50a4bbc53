"""check_poller_image against the real test daemon and the real registry (docker-registry)."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import Docker, run_plugin
from tests.registry_tools import RegistryAPI, build_and_push
from tests.standins.gateway import Gateway

pytestmark = [pytest.mark.docker, pytest.mark.registry]
DUR = r"\d+[smhd](\d+[smh])?"
LINE = re.compile(r"^IMAGE (OK|WARNING|CRITICAL|UNKNOWN) - (.*?)( \| (.*))?$")


@dataclass
class Repo:
    docker: Docker
    registry: str  # host:port
    name: str  # repository path
    tmp: Path

    def ref(self, tag: str) -> str:
        return f"{self.registry}/{self.name}:{tag}"

    def push(self, tag: str, version: str = "", nonce: str = "") -> str:
        return build_and_push(self.docker, self.ref(tag), version or tag, nonce)

    def run(self, tag: str, base: str = "engine") -> str:
        return self.docker.run(f"{self.name.replace('/', '-')}-{base}", image=self.ref(tag))

    def config(self, extra: str = "", registry_url: str = "") -> Path:
        cfg = self.tmp / "fleet.toml"
        cfg.write_text(
            f'[registry]\nurl = "{registry_url or "http://" + self.registry}"\nallow_http = true\n'
            f'cache_dir = "{self.tmp / "cache"}"\n{extra}'
        )
        return cfg

    def check(self, container: str, *args: str, cfg: Path | None = None) -> tuple[int, str, str]:
        r = run_plugin(
            "check_poller_image",
            "--docker-url",
            self.docker.host,
            "-n",
            container,
            "--config",
            str(cfg or self.config()),
            *args,
        )
        assert r.err == "" and "Traceback" not in r.out, r.err + r.out
        m = LINE.match(r.out.rstrip("\n"))
        assert m, r.out
        return r.rc, m.group(2), m.group(4) or ""


counter = 0


@pytest.fixture
def repo(docker: Docker, registry: str, tmp_path: Path) -> Repo:
    global counter
    counter += 1
    return Repo(docker, registry, f"{docker.prefix.rstrip('-')}/engine{counter}", tmp_path)


def test_fresh(repo: Repo) -> None:
    repo.push("19.04.1")
    repo.push("19.04.5")
    c = repo.run("19.04.5")
    rc, summary, perf = repo.check(c)
    assert rc == 0
    assert re.fullmatch(rf"{c} runs 19.04.5, the newest image, built {DUR} ago", summary), summary
    assert re.fullmatch(r"age=\d+s;;;0 behind=0;0;;0 lag=0s;;86400;0", perf), perf


def test_one_behind_is_warning_then_critical_by_threshold(repo: Repo) -> None:
    repo.push("19.04.1")
    c = repo.run("19.04.1")
    repo.push("19.04.5")
    rc, summary, perf = repo.check(c)
    assert rc == 1
    assert re.fullmatch(
        rf"{c} runs 19.04.1, newest 19.04.5 \(1 release behind, newer image available for "
        rf"{DUR}\)",
        summary,
    ), summary
    assert "behind=1;0;;0" in perf
    rc, _, perf = repo.check(c, "--critical-behind", "0")
    assert rc == 2 and "behind=1;0;0;0" in perf
    # the rollout grace period: lag in days; 0.00001 days is under a second
    rc, _, perf = repo.check(c, "--warning-behind", "", "--critical-lag", "0.00001")
    assert rc == 2 and re.search(r"lag=\d+s;;0\.864;0", perf), perf


def test_several_behind_and_numeric_ordering(repo: Repo) -> None:
    for tag in ("19.04.1", "19.04.5", "19.04.9", "19.04.10"):
        repo.push(tag)
    c = repo.run("19.04.5")
    rc, summary, perf = repo.check(c, "--critical-behind", "1")
    assert rc == 2
    assert summary.startswith(f"{c} runs 19.04.5, newest 19.04.10 (2 releases behind, ")  # 19.04.10 > 19.04.9
    assert "behind=2;0;1;0" in perf


def test_release_line_policy_and_non_version_tags(repo: Repo) -> None:
    for tag in ("19.04.1", "19.10.0", "latest", "dev", "sha-1a2b3c"):
        repo.push(tag, version=tag)
    c = repo.run("19.04.1")
    rc, summary, _ = repo.check(c)
    assert rc == 1 and "newest 19.10.0" in summary
    rc, summary, _ = repo.check(c, "--release-line", "19.04")
    assert (rc, summary.split(",")[0]) == (0, f"{c} runs 19.04.1")
    rc, summary, _ = repo.check(c, "--exclude", r"^19\.10")
    assert rc == 0


def test_non_version_tags_only_is_unknown(repo: Repo) -> None:
    repo.push("latest", version="dev")
    repo.push("dev", version="dev")
    c = repo.run("latest")
    rc, summary, _ = repo.check(c)
    assert (rc, summary) == (
        3,
        f"no release tag of {repo.name} in http://{repo.registry} matches the policy "
        "(tags that are not versions are ignored)",
    )


def test_same_tag_rebuilt_is_stale(repo: Repo) -> None:
    repo.push("19.04.5", nonce="first")
    c = repo.run("19.04.5")
    assert repo.check(c)[0] == 0
    repo.push("19.04.5", nonce="second")  # same tag, another digest
    rc, summary, perf = repo.check(c, "--no-cache")
    assert rc == 1
    assert re.fullmatch(
        rf"{c} runs 19.04.5, but 19.04.5 was rebuilt in the registry \(other digest\), newer "
        rf"image available for {DUR}",
        summary,
    ), summary
    assert "behind=1" in perf


def test_image_with_several_tags_is_fresh(repo: Repo) -> None:
    ref = repo.push("19.04.5-3", version="19.04.5")
    repo.docker("tag", ref, repo.ref("19.04.5"))
    repo.docker("push", repo.ref("19.04.5"))
    c = repo.run("19.04.5")  # same image, pulled by its short tag
    rc, summary, _ = repo.check(c)
    assert rc == 0, summary
    assert summary.startswith(f"{c} runs 19.04.5, the newest image")


def test_oci_index_resolves_to_the_daemon_platform(repo: Repo) -> None:
    repo.push("19.04.1")
    c = repo.run("19.04.1")
    repo.push("19.04.5-amd64", version="19.04.5")
    api = RegistryAPI(f"http://{repo.registry}")
    _, _, digest = api.manifest(repo.name, "19.04.5-amd64")
    api.push_index(repo.name, "19.04.5", {"linux/amd64": digest, "linux/arm64": digest})
    rc, summary, _ = repo.check(c, "--exclude", "amd64")
    assert rc == 1 and "newest 19.04.5 (1 release behind" in summary, summary


def test_pagination_beyond_one_page(repo: Repo) -> None:
    repo.push("19.04.1")
    c = repo.run("19.04.1")
    api = RegistryAPI(f"http://{repo.registry}")
    body, media, _ = api.manifest(repo.name, "19.04.1")
    for i in range(2, 131):  # 130 tags: two pages of 100
        api.put_manifest(repo.name, f"19.04.{i}", body, media)
    repo.push("19.04.200")
    gw = Gateway(f"http://{repo.registry}", mode="paginate")
    try:
        rc, summary, _ = repo.check(c, cfg=repo.config(registry_url=gw.url))
        assert rc == 1
        assert "newest 19.04.200 (" in summary and "130 releases behind" in summary, summary
        assert any("last=" in p for p in gw.paths), gw.paths  # the second page was asked for through Link
    finally:
        gw.stop()


def test_cache_second_check_sends_no_registry_request_and_corrupt_cache_is_replaced(repo: Repo) -> None:
    repo.push("19.04.1")
    repo.push("19.04.5")
    c = repo.run("19.04.5")
    gw = Gateway(f"http://{repo.registry}")
    try:
        cfg = repo.config(registry_url=gw.url)
        assert repo.check(c, cfg=cfg)[0] == 0
        first = gw.count
        assert first >= 3  # tags, manifest, config blob
        gw.reset()
        assert repo.check(c, cfg=cfg)[0] == 0
        assert gw.count == 0, gw.paths
        for f in (repo.tmp / "cache").glob("registry-*.json"):
            f.write_text("{ not json")
        assert repo.check(c, cfg=cfg)[0] == 0
        assert gw.count == first
        gw.reset()
        assert repo.check(c, cfg=cfg)[0] == 0 and gw.count == 0  # the corrupt file was replaced
        assert repo.check(c, "--no-cache", cfg=cfg)[0] == 0 and gw.count == first
    finally:
        gw.stop()


def test_repository_missing(repo: Repo) -> None:
    repo.push("19.04.1")
    c = repo.run("19.04.1")
    rc, summary, _ = repo.check(c, "--repository", "no/such-repo")
    assert (rc, summary) == (
        3,
        f"http://{repo.registry} answered 404 to list the tags of no/such-repo: repository name not known to registry",
    )


def test_container_missing(repo: Repo) -> None:
    rc, summary, _ = repo.check(repo.docker.name("no-engine"))
    assert (rc, summary) == (3, f"container {repo.docker.name('no-engine')} not found")


@pytest.fixture
def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_registry_down(repo: Repo, closed_port: int) -> None:
    repo.push("19.04.1")
    c = repo.run("19.04.1")
    rc, summary, _ = repo.check(c, cfg=repo.config(registry_url=f"http://127.0.0.1:{closed_port}"))
    assert (rc, summary) == (
        3,
        f"connection refused to registry http://127.0.0.1:{closed_port} (list the tags of {repo.name})",
    )


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("garbage", "malformed answer from {url} (tags of {repo}): not JSON"),
        ("error500", "{url} answered HTTP 503 to list the tags of {repo}: maintenance"),
    ],
)
def test_malformed_and_failing_registry(repo: Repo, mode: str, reason: str) -> None:
    repo.push("19.04.1")
    c = repo.run("19.04.1")
    gw = Gateway(f"http://{repo.registry}", mode=mode)
    try:
        rc, summary, _ = repo.check(c, cfg=repo.config(registry_url=gw.url))
        assert (rc, summary) == (3, reason.format(url=gw.url, repo=repo.name))
    finally:
        gw.stop()


def test_bearer_token_flow(repo: Repo, tmp_path: Path) -> None:
    repo.push("19.04.1")
    c = repo.run("19.04.1")
    repo.push("19.04.5")
    pw = tmp_path / "registry.password"
    pw.write_text("s3cret\n")
    pw.chmod(0o600)
    gw = Gateway(f"http://{repo.registry}", mode="bearer", user="pollerfleet", password="s3cret")
    try:
        extra = f'username = "pollerfleet"\npassword_file = "{pw}"\n'
        rc, summary, _ = repo.check(c, "--no-cache", cfg=repo.config(extra, registry_url=gw.url))
        assert rc == 1 and "newest 19.04.5" in summary, summary
        assert any(p.startswith("/token?") for p in gw.paths)
        pw.write_text("wrong\n")
        rc, summary, _ = repo.check(c, "--no-cache", cfg=repo.config(extra, registry_url=gw.url))
        assert rc == 3 and summary.startswith(f"the token service {gw.url}/token refused user 'pollerfleet' (401)")
    finally:
        gw.stop()


@pytest.fixture
def auth_repo(repo: Repo, auth_registry: dict[str, str], tmp_path: Path) -> Iterator[tuple[Repo, Path]]:
    """Images copied through the API into the htpasswd + TLS registry (the daemon trusts no custom CA)."""
    src = RegistryAPI(f"http://{repo.registry}")
    dst = RegistryAPI(
        f"https://{auth_registry['address']}", ("pollerfleet", auth_registry["password"]), auth_registry["ca"]
    )
    repo.push("19.04.1")
    repo.push("19.04.5")
    for tag in ("19.04.1", "19.04.5"):
        dst.copy(src, repo.name, tag, repo.name, tag)
    pw = tmp_path / "auth.password"
    pw.write_text(auth_registry["password"] + "\n")
    pw.chmod(0o600)
    yield repo, pw


def test_basic_auth_and_tls_with_own_ca(auth_repo: tuple[Repo, Path], auth_registry: dict[str, str]) -> None:
    repo, pw = auth_repo
    c = repo.run("19.04.1")
    url = f"https://{auth_registry['address']}"
    extra = f'username = "pollerfleet"\npassword_file = "{pw}"\nca_file = "{auth_registry["ca"]}"\n'
    rc, summary, _ = repo.check(c, "--no-cache", cfg=repo.config(extra, registry_url=url))
    assert rc == 1 and summary.startswith(f"{c} runs 19.04.1, newest 19.04.5"), summary
    # the system CA store does not know the test CA
    rc, summary, _ = repo.check(
        c, "--no-cache", cfg=repo.config(f'username = "pollerfleet"\npassword_file = "{pw}"\n', registry_url=url)
    )
    assert rc == 3 and summary.startswith(f"TLS verification of {url} failed (list the tags of {repo.name}): ")
    pw.write_text("wrong-password\n")
    rc, summary, _ = repo.check(c, "--no-cache", cfg=repo.config(extra, registry_url=url))
    assert (rc, summary) == (
        3,
        f"{url} refused user 'pollerfleet' (401) to list the tags of {repo.name}: check "
        "[registry] username and password_file",
    )


def test_verbosity_levels_show_requests_never_credentials(
    auth_repo: tuple[Repo, Path], auth_registry: dict[str, str]
) -> None:
    repo, pw = auth_repo
    c = repo.run("19.04.1")
    url = f"https://{auth_registry['address']}"
    extra = f'username = "pollerfleet"\npassword_file = "{pw}"\nca_file = "{auth_registry["ca"]}"\n'
    cfg = repo.config(extra, registry_url=url)
    base = ["--docker-url", repo.docker.host, "-n", c, "--config", str(cfg), "--no-cache"]
    quiet = run_plugin("check_poller_image", *base)
    assert quiet.rc == 1 and len(quiet.out.splitlines()) == 1 and quiet.err == "", quiet.out
    one = run_plugin("check_poller_image", *base, "-v")
    assert one.rc == 1 and f"configuration: {cfg}" in one.out and f"docker: {repo.docker.host} (no TLS)" in one.out
    assert f"repository {repo.name}: 2 release tags under the policy, newest 19.04.5 (asked now)" in one.out, one.out
    assert " -> " not in one.out  # requests only from -vv on
    two = run_plugin("check_poller_image", *base, "-vv")
    assert two.rc == 1 and two.err == "", two.err
    assert two.line.startswith(f"IMAGE WARNING - {c} runs 19.04.1, newest 19.04.5")
    requests = [line for line in two.out.splitlines() if " -> " in line]
    assert any(re.fullmatch(rf"GET {re.escape(repo.docker.host)}/.*/json -> 200 in [\d.]+ ms", r) for r in requests)
    tags = rf"GET {re.escape(url)}/v2/{repo.name}/tags/list\?n=\d+ -> "
    assert any(re.fullmatch(tags + r"401 in [\d.]+ ms", r) for r in requests)  # the challenge,
    assert any(re.fullmatch(tags + r"200 in [\d.]+ ms", r) for r in requests)  # then with the password
    secret = auth_registry["password"]
    for text in (two.out, two.err):
        assert secret not in text and "Authorization" not in text and "Basic " not in text
    # a request that fails is logged too, with the reason and without the password
    pw.write_text("wrong-password\n")
    failed = run_plugin("check_poller_image", *base, "-vv")
    assert failed.rc == 3 and "401" in failed.line and "wrong-password" not in failed.out + failed.err
    assert any(" -> 401 in " in line for line in failed.out.splitlines()[1:])


def test_oci_index_without_the_daemon_platform_is_unknown(repo: Repo) -> None:
    repo.push("19.04.1")
    c = repo.run("19.04.1")
    repo.push("19.04.5-arm", version="19.04.5")
    api = RegistryAPI(f"http://{repo.registry}")
    _, _, digest = api.manifest(repo.name, "19.04.5-arm")
    api.push_index(repo.name, "19.04.5", {"linux/arm64": digest})  # the daemon's image says linux/amd64
    rc, summary, _ = repo.check(c, "--exclude", "arm", "--no-cache")
    assert (rc, summary) == (3, f"{repo.name}:19.04.5 has no linux/amd64 image (the index offers: linux/arm64)")


def test_password_goes_only_to_the_configured_registry(
    auth_repo: tuple[Repo, Path], auth_registry: dict[str, str]
) -> None:
    """No [registry] url: the registry comes from the running image reference, which whoever is
    root on that poller host chooses; it is asked anonymously, the password stays home."""
    repo, pw = auth_repo
    foreign = f"{auth_registry['address']}/{repo.name}:19.04.1"
    repo.docker("tag", repo.ref("19.04.1"), foreign)
    c = repo.docker.run(f"{repo.name.replace('/', '-')}-foreign", image=foreign)
    cfg = repo.tmp / "no-url.toml"
    cfg.write_text(
        f'[registry]\nusername = "pollerfleet"\npassword_file = "{pw}"\nca_file = "{auth_registry["ca"]}"\n'
        f'cache_dir = "{repo.tmp / "cache"}"\n'
    )
    rc, summary, _ = repo.check(c, "--no-cache", cfg=cfg)
    assert (rc, summary) == (
        3,
        f"https://{auth_registry['address']} refused anonymous access (401) to list the tags of {repo.name}: "
        "credentials are sent only to the registry [registry] url names (with username and password_file)",
    )
    # named in [registry] url, the same registry gets them
    url = f"https://{auth_registry['address']}"
    cfg.write_text(cfg.read_text() + f'url = "{url}"\n')
    rc, summary, _ = repo.check(c, "--no-cache", cfg=cfg)
    assert rc == 1 and summary.startswith(f"{c} runs 19.04.1, newest 19.04.5"), summary


def test_token_service_on_plain_http_or_another_host_gets_no_password(
    repo: Repo, auth_registry: dict[str, str], tmp_path: Path
) -> None:
    repo.push("19.04.1")
    c = repo.run("19.04.1")
    pw = tmp_path / "registry.password"
    pw.write_text("s3cret\n")
    pw.chmod(0o600)
    creds = f'username = "pollerfleet"\npassword_file = "{pw}"\n'
    certs = Path(auth_registry["ca"]).parent
    token = Gateway(f"http://{repo.registry}", mode="bearer", user="pollerfleet", password="s3cret")
    # an https registry whose bearer challenge names a token service on plain HTTP
    tls = Gateway(
        f"http://{repo.registry}",
        mode="bearer",
        tls=(str(certs / "server-cert.pem"), str(certs / "server-key.pem")),
        realm=f"{token.url}/token",
    )
    # a plain registry (allowed) whose token service is on another host
    other = Gateway(f"http://{repo.registry}", mode="bearer", host="127.0.0.2", user="pollerfleet", password="s3cret")
    plain = Gateway(f"http://{repo.registry}", mode="bearer", realm=f"{other.url}/token")
    plain.token = tls.token = other.token = token.token
    try:
        cfg = tmp_path / "tls.toml"
        cfg.write_text(f'[registry]\nurl = "{tls.url}"\nca_file = "{auth_registry["ca"]}"\n{creds}')
        rc, summary, _ = repo.check(c, "--no-cache", cfg=cfg)
        assert (rc, summary) == (
            3,
            f"{tls.url} sends us to a token service on plain HTTP ({token.url}/token): refused, the credentials "
            "would travel in clear; set [registry] allow_http = true only if that is really intended",
        )
        assert token.paths == []
        rc, summary, _ = repo.check(c, "--no-cache", cfg=repo.config(creds, registry_url=plain.url))
        assert (rc, summary) == (
            3,
            f"{plain.url} sends us to a token service on another host (127.0.0.2): the credentials go there "
            "only if [registry] token_hosts names it",
        )
        assert other.paths == []
        rc, summary, _ = repo.check(
            c, "--no-cache", cfg=repo.config(creds + 'token_hosts = ["127.0.0.2"]\n', registry_url=plain.url)
        )
        assert rc == 0 and "the newest image" in summary, summary
        assert any(p.startswith("/token?") for p in other.paths)
    finally:
        for gw in (token, tls, other, plain):
            gw.stop()


def test_a_world_readable_password_file_is_a_configuration_error(repo: Repo, tmp_path: Path) -> None:
    repo.push("19.04.1")
    c = repo.run("19.04.1")
    pw = tmp_path / "registry.password"
    pw.write_text("s3cret\n")
    pw.chmod(0o644)
    rc, summary, _ = repo.check(c, "--no-cache", cfg=repo.config(f'username = "pollerfleet"\npassword_file = "{pw}"\n'))
    assert (rc, summary) == (
        3,
        f"the registry password file {pw} is readable by every user; chmod 600 or 640 it first",
    )


def test_a_plain_http_registry_named_https_does_not_speak_tls(repo: Repo) -> None:
    repo.push("19.04.1")
    c = repo.run("19.04.1")
    url = f"https://{repo.registry}"
    rc, summary, _ = repo.check(c, "--no-cache", cfg=repo.config(registry_url=url))
    assert (rc, summary) == (
        3,
        f"{url} does not speak TLS (list the tags of {repo.name}): it answers in plain HTTP; if it really is "
        "unencrypted, use http:// with [registry] allow_http = true",
    )


# -- the verdict is about the image, not a number (#22.6) ------------------------------------------
def test_another_repository_is_critical_whatever_its_version(repo: Repo) -> None:
    repo.push("19.04.5")
    backdoor = f"{repo.registry}/{repo.name}-backdoor:99.0.0"
    build_and_push(repo.docker, backdoor, "99.0.0")
    c = repo.docker.run(f"{repo.name.replace('/', '-')}-backdoor", image=backdoor)
    rc, summary, _ = repo.check(c, "--repository", repo.name, "--critical-lag", "", "--warning-behind", "")
    assert rc == 2, summary
    assert summary.startswith(
        f"{c} runs {repo.registry}/{repo.name}-backdoor:99.0.0, not an image of the desired repository "
        f"{repo.registry}/{repo.name}; the desired image is 19.04.5@sha256:"
    ), summary


def test_a_tag_that_is_no_release_is_critical(repo: Repo) -> None:
    repo.push("19.04.5", nonce="release")
    repo.push("debug", version="19.04.5", nonce="debug")  # says 19.04.5 in its label: the tag is what runs
    c = repo.run("debug")
    rc, summary, _ = repo.check(c, "--critical-lag", "")
    assert rc == 2
    assert summary.startswith(f"{c} runs {repo.registry}/{repo.name}:debug, which is not a release tag; "), summary


def test_the_right_tag_built_on_the_host_is_critical(repo: Repo) -> None:
    repo.push("19.04.5")
    repo.docker("rmi", repo.ref("19.04.5"))
    build_and_push(repo.docker, repo.ref("19.04.5"), "19.04.5", nonce="local", push=False)  # no RepoDigest
    c = repo.run("19.04.5")
    rc, summary, _ = repo.check(c, "--critical-lag", "")
    assert rc == 2
    assert "with no registry digest: built or loaded on the host" in summary, summary


def test_a_digest_the_registry_does_not_serve_is_critical(repo: Repo) -> None:
    repo.push("19.04.5")
    repo.push("19.04.9")
    c = repo.run("19.04.9")
    api = RegistryAPI(f"http://{repo.registry}")
    _, _, digest = api.manifest(repo.name, "19.04.9")
    api.delete_manifest(repo.name, digest)  # the host runs what the registry no longer serves
    rc, summary, _ = repo.check(c, "--no-cache")
    assert rc == 2
    assert f"a digest the registry does not serve ({repo.registry}/{repo.name}:19.04.9 is not in the registry)" in (
        summary
    ), summary
