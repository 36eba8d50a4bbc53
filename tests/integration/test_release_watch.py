"""The release watch against a real RPM-md repository (rpmbuild + createrepo_c, served on
127.0.0.1), the real registry, and the Jenkins stand-in."""

from __future__ import annotations

import gzip
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pollerfleet.clients.upstream import UpstreamError, UpstreamRepo
from tests.helpers import Docker, handler, pollerfleet, run_plugin, write_fleet_config, write_inventory
from tests.registry_tools import build_and_push
from tests.standins.jenkins import JenkinsStandin, Job
from tests.upstream_repo import STABLE, Server, centreon_layout, make_repo

pytestmark = [pytest.mark.upstream, pytest.mark.registry]
DAY = 86400
TOKEN = "r3build-token"
JOB = "build-centreon-poller"


@pytest.fixture(scope="module")
def now() -> float:
    """The moment the repositories' packages are dated from: when they are built, not when pytest
    imported this module (a long suite reaches these tests half an hour after collection)."""
    return time.time()


@pytest.fixture(scope="module")
def repos(tmp_path_factory: pytest.TempPathFactory, now: float) -> Iterator[dict[str, str]]:
    top = tmp_path_factory.mktemp("rpmbuild")
    root = tmp_path_factory.mktemp("www")
    # Centreon's own layout: the engine (an x86_64 build) in 19.04/el7/stable/x86_64/, the release
    # RPM and plugin packs in .../noarch/ (19.10.0 is there for the release-line cases)
    engines = [("19.04.1", now - 90 * DAY), ("19.04.5", now - 30 * DAY), ("19.04.10", now - 2 * DAY)]
    layout = centreon_layout(root / "centreon", top, [*engines, ("19.10.0", now - 1 * DAY)])
    rpms = sorted(layout["x86_64"].glob("*.rpm"))
    make_repo(root / "xz", rpms, "xz")
    oldest = ("centreon-engine-19.04.1-", "centreon-engine-19.04.5-")
    make_repo(root / "old", [r for r in rpms if r.name.startswith(oldest)])
    # broken copies
    make_repo(root / "missing", rpms, "gz")
    repomd = root / "missing" / "repodata" / "repomd.xml"
    repomd.write_text(
        re.sub(r'href="repodata/[^"]*primary.xml.gz"', 'href="repodata/gone-primary.xml.gz"', repomd.read_text())
    )
    make_repo(root / "truncated", rpms, "gz")
    primary = next((root / "truncated" / "repodata").glob("*primary.xml.gz"))
    primary.write_bytes(primary.read_bytes()[: primary.stat().st_size // 2])
    make_repo(root / "garbage", rpms, "gz")
    primary = next((root / "garbage" / "repodata").glob("*primary.xml.gz"))
    primary.write_bytes(gzip.compress(b"<metadata><package><name>centreon-engine</oops></metadata>"))
    (root / "badrepomd" / "repodata").mkdir(parents=True)
    (root / "badrepomd" / "repodata" / "repomd.xml").write_text("this is not xml <")
    server = Server(root)
    yield {
        **{k: f"{server.url}/{k}" for k in ("xz", "old", "missing", "truncated", "garbage", "badrepomd")},
        "gz": f"{server.url}/centreon/{STABLE}/x86_64/",
        "noarch": f"{server.url}/centreon/{STABLE}/noarch/",
        "down": "http://127.0.0.1:9/",
    }
    server.stop()


@pytest.mark.parametrize("kind", ["gz", "xz"])
def test_reads_every_version_of_the_package(repos: dict[str, str], kind: str, now: float) -> None:
    found = UpstreamRepo(repos[kind]).packages("centreon-engine")
    assert sorted(p.version for p in found) == ["19.04.1", "19.04.10", "19.04.5", "19.10.0"]
    assert {p.release for p in found} == {"1.el7"}
    assert {p.repo.rstrip("/") for p in found} == {repos[kind].rstrip("/")}
    p10 = next(p for p in found if p.version == "19.04.10")
    assert p10.time is not None and abs(p10.time - (now - 2 * DAY)) < 5


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("down", "cannot connect to http://127.0.0.1:9/ (repomd.xml)"),
        ("missing", "/missing/repodata/gone-primary.xml.gz does not exist (404) (gone-primary.xml.gz)"),
        ("truncated", "is truncated (the gzip stream ends early)"),
        ("garbage", "is not valid primary XML: mismatched tag"),
        ("badrepomd", "/badrepomd/repodata/repomd.xml is not valid XML"),
    ],
)
def test_broken_repositories_say_why(repos: dict[str, str], kind: str, reason: str, tmp_path: Path) -> None:
    with pytest.raises(UpstreamError) as err:
        UpstreamRepo(repos[kind]).packages("centreon-engine")
    assert reason in str(err.value)
    cfg = tmp_path / "fleet.toml"
    cfg.write_text("[upstream]\nallow_http = true\n")
    r = run_plugin(
        "check_engine_release", "--upstream", repos[kind], "--registry", "http://127.0.0.1:9", "--config", str(cfg)
    )
    assert r.rc == 3 and r.err == "" and reason in r.line, r.out
    assert r.line.startswith("RELEASE UNKNOWN - ")


def test_a_watch_on_centreons_noarch_repository_alone_says_it_can_never_fire(
    repos: dict[str, str], registry: str, image_repo: str, tmp_path: Path
) -> None:
    """noarch/ has centreon-release and the plugin packs, never centreon-engine: a watch on it
    alone would stay silent forever, so it is UNKNOWN with the reason; with the $basearch
    repository too (both of centreon-release-19.04's repositories) it sees 19.04.10."""
    assert UpstreamRepo(repos["noarch"]).packages("centreon-engine") == []
    assert [p.name for p in UpstreamRepo(repos["noarch"]).packages("centreon-release")] == ["centreon-release"]
    r = run_plugin("check_engine_release", "--config", str(config(tmp_path, registry, image_repo, [repos["noarch"]])))
    assert (r.rc, r.err) == (3, "")
    assert r.line == (
        f"RELEASE UNKNOWN - no centreon-engine package at all in {repos['noarch']}: Centreon publishes "
        "centreon-engine in its $basearch repository (.../el7/stable/x86_64/), not in noarch/"
    ), r.out
    both = config(tmp_path, registry, image_repo, [repos["noarch"], repos["gz"]])
    r = run_plugin("check_engine_release", "--config", str(both))
    assert r.rc == 1 and r.line.startswith("RELEASE WARNING - centreon-engine 19.04.10 upstream since "), r.out


def test_download_bound(repos: dict[str, str]) -> None:
    with pytest.raises(UpstreamError, match=r"larger than the 0 MiB download bound"):
        UpstreamRepo(repos["gz"], max_bytes=100).packages("centreon-engine")


def config(
    tmp: Path, registry: str, repo: str, urls: list[str], jenkins: str = "http://127.0.0.1:9/", line: str = "19.04"
) -> Path:
    return write_fleet_config(
        tmp,
        jenkins_url=jenkins,
        token=TOKEN,
        registry_address=registry,
        registry={"repository": repo},
        upstream={"urls": urls, "release_line": line, "allow_http": True},
    )


@pytest.fixture
def image_repo(docker: Docker, registry: str) -> str:
    name = f"{docker.prefix.rstrip('-')}/release-{time.monotonic_ns()}"
    build_and_push(docker, f"{registry}/{name}:19.04.5", "19.04.5")
    return name


def test_release_line_and_states(
    repos: dict[str, str], registry: str, image_repo: str, tmp_path: Path, now: float
) -> None:
    cfg = config(tmp_path, registry, image_repo, [repos["gz"]])
    r = run_plugin("check_engine_release", "--config", str(cfg))
    # 19.04.10 exists upstream for 2 days without an image: past 24 h -> WARNING, not yet 72 h
    since = time.strftime("%Y-%m-%d", time.localtime(now - 2 * DAY))
    # the hours the thresholds judged are in the perfdata, with those thresholds
    assert r.rc == 1 and re.fullmatch(
        re.escape(f"RELEASE WARNING - centreon-engine 19.04.10 upstream since {since}, newest image 19.04.5 | ")
        + r"hours_without_image=4[89](\.[0-9])?;24;72;0 missing_releases=1;;;0\n",
        r.out,
    ), r.out
    r = run_plugin("check_engine_release", "--config", str(cfg), "-c", "24")
    assert r.rc == 2
    r = run_plugin("check_engine_release", "--config", str(cfg), "-w", "72", "-c", "96")
    # the sentence's hours are the perfdata's, rounded (how many depends on when this test runs)
    said = re.search(r"\(image build expected; ([0-9]+) h so far\) \| hours_without_image=([0-9.]+);72;96;0 ", r.out)
    assert r.rc == 0 and said is not None, r.out
    assert int(said[1]) in (48, 49) and abs(int(said[1]) - float(said[2])) <= 0.55, r.out
    # without the release line, 19.10.0 (1 day old) is the newest: 19.04 must not jump to it
    # thresholds are Monitoring Plugins ranges of hours, as in the other plugins
    r = run_plugin("check_engine_release", "--config", str(cfg), "-w", "~:100", "-c", "~:24")
    assert r.rc == 2 and r.out.startswith("RELEASE CRITICAL")
    r = run_plugin("check_engine_release", "--config", str(cfg), "-w", "1.5:", "-c", "")
    assert r.rc == 0, r.out  # 48 h is inside 1.5:inf
    r = run_plugin("check_engine_release", "--config", str(cfg), "-w", "zz")
    assert r.rc == 3 and r.out.startswith("RELEASE UNKNOWN - argument -w/--warning-age: invalid range 'zz'"), r.out
    r = run_plugin("check_engine_release", "--config", str(cfg), "--release-line", "19.10", "-w", "48")
    assert r.rc == 0 and "centreon-engine 19.10.0 upstream since" in r.out and "newest image none" in r.out

    # several repositories: the old one adds nothing newer
    cfg2 = config(tmp_path, registry, image_repo, [repos["old"], repos["xz"]])
    assert run_plugin("check_engine_release", "--config", str(cfg2)).rc == 1


def rebuild_handler(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        handler("handle_engine_rebuild", *args, config=cfg),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_missing_image_triggers_exactly_one_build(
    repos: dict[str, str], registry: str, image_repo: str, docker: Docker, tmp_path: Path
) -> None:
    standin = JenkinsStandin({"pollerfleet": TOKEN}, [Job(JOB, ["CENTREON_ENGINE_VERSION"], duration=30)]).start()
    try:
        cfg = config(tmp_path, registry, image_repo, [repos["gz"]], standin.url)
        r = rebuild_handler(cfg, "WARNING", "SOFT", "1")
        assert r.stdout.startswith("rebuild (newest): ignored: ")
        r = rebuild_handler(cfg, "WARNING", "HARD", "3")
        assert (r.returncode, r.stderr) == (0, "")
        assert re.fullmatch(
            rf"rebuild 19\.04\.10: triggered \(queue item \d+\): {JOB} with "
            r"CENTREON_ENGINE_VERSION=19\.04\.10\n",
            r.stdout,
        ), r.stdout
        assert standin.triggered(JOB) == [{"CENTREON_ENGINE_VERSION": "19.04.10"}]
        # again while it is queued or running: nothing new
        r = rebuild_handler(cfg, "CRITICAL", "HARD", "3")
        assert re.match(
            r"rebuild 19\.04\.10: skipped \((queue item \d+|build #1)\): a build of 19\.04\.10 is already", r.stdout
        ), r.stdout
        assert len(standin.triggered(JOB)) == 1
        # the operator's side, same rules
        r = pollerfleet(cfg, "rebuild", "19.04.10", timeout=60)
        assert "skipped" in r.stdout and len(standin.triggered(JOB)) == 1
        r = pollerfleet(cfg, "rebuild", "19.04.10;id", timeout=60)
        assert r.returncode == 1 and "refused: '19.04.10;id' is not a release version" in r.stdout
        # the image is pushed: OK, and no build
        build_and_push(docker, f"{registry}/{image_repo}:19.04.10", "19.04.10")
        r = run_plugin("check_engine_release", "--config", str(cfg))
        assert (r.rc, r.line) == (
            0,
            "RELEASE OK - centreon-engine 19.04.10 upstream, image 19.04.10 exists "
            "| hours_without_image=0;24;72;0 missing_releases=0;;;0",
        )
        r = rebuild_handler(cfg, "CRITICAL", "HARD", "3")
        assert r.stdout.startswith(
            "rebuild (newest): ignored: centreon-engine 19.04.10 upstream, image 19.04.10 exists"
        )
        assert len(standin.triggered(JOB)) == 1
    finally:
        standin.stop()


def test_plain_http_upstream_needs_allow_http(repos: dict[str, str]) -> None:
    r = run_plugin("check_engine_release", "--upstream", repos["gz"], "--registry", "http://127.0.0.1:9")
    assert (r.rc, r.err) == (3, "")
    assert r.line == (
        f"RELEASE UNKNOWN - upstream repository {repos['gz']} is plain HTTP: its package list could be altered "
        "on the way; set [upstream] allow_http = true only if no https mirror exists"
    )


def test_reconcile_retries_a_missed_rebuild(
    repos: dict[str, str], registry: str, image_repo: str, tmp_path: Path
) -> None:
    """The handler's rebuild was missed (Jenkins down at the HARD state): the cron'd reconcile asks
    for the newest upstream release without an image, under the same rules (one build per version)."""
    standin = JenkinsStandin({"pollerfleet": TOKEN}, [Job(JOB, ["CENTREON_ENGINE_VERSION"], duration=30)]).start()
    try:
        cfg = config(tmp_path, registry, image_repo, [repos["gz"]], standin.url)
        inventory = write_inventory(tmp_path / "inventory.yml", {})
        cfg.write_text(cfg.read_text().replace("[fleet]\n", f'[fleet]\ninventory = "{inventory}"\n'))

        def reconcile(*args: str) -> subprocess.CompletedProcess[str]:
            return pollerfleet(cfg, "reconcile", *args, timeout=60)

        r = reconcile("--no-rebuild")
        assert r.returncode == 0 and "rebuild" not in r.stdout and standin.triggered(JOB) == []
        r = reconcile()  # [upstream] urls is set: the rebuild is part of the safety net by default
        assert r.returncode == 0, r.stdout + r.stderr
        assert re.search(r"^rebuild 19\.04\.10: triggered \(queue item \d+\)", r.stdout, re.M), r.stdout
        assert standin.triggered(JOB) == [{"CENTREON_ENGINE_VERSION": "19.04.10"}]
        r = reconcile("--rebuild")
        assert "rebuild 19.04.10: skipped" in r.stdout and len(standin.triggered(JOB)) == 1
    finally:
        standin.stop()
