"""What a hostile or broken registry answers never goes further than one line: a forged digest,
a pagination link to another origin, a redirect to plain HTTP, an endless body. The registry
behind the gateway is the real test registry; the gateway only bends its answers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.helpers import Docker, pollerfleet, run_plugin, write_fleet_config, write_inventory
from tests.registry_tools import RegistryAPI, build_and_push
from tests.standins.gateway import Gateway

pytestmark = [pytest.mark.docker, pytest.mark.registry]
LINE = re.compile(r"^IMAGE (OK|WARNING|CRITICAL|UNKNOWN) - (.*?)( \| (.*))?$")
FORGED = "sha256:{{lookup('pipe','id>/tmp/pft-owned')}}"

counter = 0


@pytest.fixture
def name(docker: Docker) -> str:
    global counter
    counter += 1
    return f"{docker.prefix.rstrip('-')}/answers{counter}"


def check(docker: Docker, container: str, cfg: Path, *args: str) -> tuple[int, str]:
    r = run_plugin("check_poller_image", "--docker-url", docker.host, "-n", container, "--config", str(cfg), *args)
    assert r.err == "" and "Traceback" not in r.out, r.err + r.out
    assert len(r.out.splitlines()) == 1, r.out
    m = LINE.match(r.out.rstrip("\n"))
    assert m, r.out
    return r.rc, m.group(2)


def registry_config(tmp: Path, url: str, extra: str = "") -> Path:
    cfg = tmp / "fleet.toml"
    cfg.write_text(f'[registry]\nurl = "{url}"\nallow_http = true\ncache_dir = "{tmp / "cache"}"\n{extra}')
    return cfg


def test_a_forged_digest_is_unknown_and_never_printed_by_desired(
    docker: Docker, registry: str, name: str, tmp_path: Path
) -> None:
    build_and_push(docker, f"{registry}/{name}:19.04.1", "19.04.1")
    c = docker.run("forged", image=f"{registry}/{name}:19.04.1")
    build_and_push(docker, f"{registry}/{name}:19.04.5", "19.04.5")
    gw = Gateway(f"http://{registry}", headers={"Docker-Content-Digest": FORGED})
    try:
        rc, summary = check(docker, c, registry_config(tmp_path, gw.url), "--no-cache")
        assert rc == 3
        assert summary == (
            f"{gw.url} gave a malformed Docker-Content-Digest for {name}:19.04.5: "
            "not sha256: and 64 lowercase hex digits"
        ), summary
        # the deploy job asks `pollerfleet desired`: nothing on stdout, one line on stderr
        repository = f"127.0.0.1:{gw.url.rsplit(':', 1)[1]}/{name}"
        inv = write_inventory(tmp_path / "inventory.yml", {"poller01": {"poller_image_repository": repository}})
        cfg = write_fleet_config(tmp_path, inventory=inv, registry={"url": gw.url, "allow_http": True})
        r = pollerfleet(cfg, "desired", "poller01")
        assert (r.returncode, r.stdout) == (1, ""), r.stdout
        assert r.stderr.startswith("pollerfleet: poller01: cannot read the registry for ") and "malformed" in r.stderr
        assert len(r.stderr.splitlines()) == 1 and "{{" not in r.stderr
        # the same digest, forged only in the HEAD answer an operator's choice is checked with
        r = pollerfleet(cfg, "desired", "poller01", "--image", "19.04.5")
        assert (r.returncode, r.stdout) == (1, ""), r.stdout
        assert "malformed Docker-Content-Digest" in r.stderr and len(r.stderr.splitlines()) == 1
    finally:
        gw.stop()


def test_a_forged_digest_in_the_cache_is_not_believed(docker: Docker, registry: str, name: str, tmp_path: Path) -> None:
    """The cache directory belongs to the engine user: what it holds is checked like a registry answer."""
    build_and_push(docker, f"{registry}/{name}:19.04.5", "19.04.5")
    c = docker.run("cached", image=f"{registry}/{name}:19.04.5")
    cfg = registry_config(tmp_path, f"http://{registry}")
    assert check(docker, c, cfg)[0] == 0
    (entry,) = (tmp_path / "cache").glob("registry-*.json")
    entry.write_text(entry.read_text().replace('"sha256:', '"sha256:{{x}}'))
    rc, summary = check(docker, c, cfg)
    assert rc == 0 and "{{" not in summary, summary  # asked again of the registry
    assert "{{" not in entry.read_text()


def test_a_digest_in_capitals_is_no_digest(docker: Docker, registry: str, name: str, tmp_path: Path) -> None:
    build_and_push(docker, f"{registry}/{name}:19.04.1", "19.04.1")
    c = docker.run("capitals", image=f"{registry}/{name}:19.04.1")
    gw = Gateway(f"http://{registry}", headers={"Docker-Content-Digest": "sha256:" + "A" * 64})
    try:
        rc, summary = check(docker, c, registry_config(tmp_path, gw.url), "--no-cache")
        assert rc == 3 and f"malformed Docker-Content-Digest for {name}:19.04.1" in summary, summary
    finally:
        gw.stop()


@pytest.mark.parametrize("form", ["network-path", "double-slash-path", "absolute"])
def test_credentials_never_follow_a_pagination_link_to_another_origin(
    docker: Docker, registry: str, name: str, tmp_path: Path, form: str
) -> None:
    """A second listener on 127.0.0.1 stands where the link points: it must receive nothing."""
    build_and_push(docker, f"{registry}/{name}:19.04.1", "19.04.1")
    c = docker.run("paginate", image=f"{registry}/{name}:19.04.1")
    api = RegistryAPI(f"http://{registry}")
    body, media, _ = api.manifest(name, "19.04.1")
    for i in range(2, 5):
        api.put_manifest(name, f"19.04.{i}", body, media)
    elsewhere = Gateway(f"http://{registry}")
    gw = Gateway(f"http://{registry}", mode="paginate", user="pollerfleet", password="s3cret", basic=True)
    gw.page = 2
    other = elsewhere.url.split("://", 1)[1]
    gw.link = {"network-path": f"//{other}", "double-slash-path": f"{gw.url}//{other}", "absolute": elsewhere.url}[form]
    pw = tmp_path / "registry.password"
    pw.write_text("s3cret\n")
    pw.chmod(0o600)
    try:
        cfg = registry_config(tmp_path, gw.url, f'username = "pollerfleet"\npassword_file = "{pw}"\n')
        rc, summary = check(docker, c, cfg, "--no-cache")
        assert (rc, summary) == (
            3,
            f"{gw.url} sent a pagination link to another origin (http://{other}) for the tags of {name}: not followed",
        )
        assert elsewhere.paths == [] and elsewhere.authorizations == []
        assert gw.authorizations  # the registry itself got the credentials: the test would see a leak
    finally:
        gw.stop()
        elsewhere.stop()
