"""The version policy and the freshness verdict, pinned down on values (the integration tests run
the same paths against the real registry)."""

from __future__ import annotations

import re

import pytest
import requests

from pollerfleet.checks.image import days_range
from pollerfleet.clients.registry import ImageInfo, RegistryClient, RegistryError
from pollerfleet.core.config import RegistrySettings
from pollerfleet.core.versions import Policy, parse_tag
from pollerfleet.images.freshness import Freshness, Reference, RegistryView, RunningImage, freshness

NOW = 1_800_000_000.0
DAY = 86400


@pytest.mark.parametrize(
    ("tags", "newest"),
    [
        (["19.04.5", "19.04.10", "19.04.9"], "19.04.10"),  # numbers, not strings
        (["19.04.5", "19.04.5-3", "19.04.5-12"], "19.04.5-12"),  # build numbers
        (["v19.04.5", "19.04.4"], "v19.04.5"),
        (["latest", "dev", "sha-1a2b3c", "19.04.1"], "19.04.1"),
        (["latest", "dev"], None),
    ],
)
def test_newest(tags: list[str], newest: str | None) -> None:
    found = Policy().newest(tags)
    assert (found.tag if found else None) == newest


def test_release_line_and_regexes() -> None:
    tags = ["19.04.1", "19.04.10", "19.10.0", "20.04.0-rc1", "19.04.11-hotfix"]
    assert Policy(release_line="19.04").newest(tags).tag == "19.04.10"  # type: ignore[union-attr]
    assert Policy(exclude=r"^19\.10").newest(tags).tag == "19.04.10"  # type: ignore[union-attr]
    assert Policy(include=r"^19\.04\.1$").newest(tags).tag == "19.04.1"  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="is not a regular expression"):
        Policy(include="(")
    with pytest.raises(ValueError, match=r"must look like 19\.04"):
        Policy(release_line="19.x")


@pytest.mark.parametrize(
    ("ref", "registry", "repo", "tag"),
    [
        (
            "registry.example:5000/centreon/centreon-engine:19.04.5",
            "registry.example:5000",
            "centreon/centreon-engine",
            "19.04.5",
        ),
        ("127.0.0.1:25000/c/e:1@sha256:ab", "127.0.0.1:25000", "c/e", "1"),
        ("centreon/centreon-engine", "", "centreon/centreon-engine", "latest"),
        ("busybox:1", "", "library/busybox", "1"),
        ("localhost/x/y:2", "localhost", "x/y", "2"),
    ],
)
def test_reference(ref: str, registry: str, repo: str, tag: str) -> None:
    r = Reference.parse(ref)
    assert (r.registry, r.repository, r.tag) == (registry, repo, tag)


def running(
    tag: str, digests: tuple[str, ...] = ("sha256:run",), created: float | None = NOW - 10 * DAY
) -> RunningImage:
    return RunningImage("centreon-engine", Reference("reg", "c/e", tag), parse_tag(tag), digests, created, "sha256:id")


def view(
    tags: list[str], newest_digest: str = "sha256:new", digests: dict[str, str | None] | None = None
) -> RegistryView:
    releases = Policy().releases(tags)
    return RegistryView(releases, ImageInfo(releases[-1].tag, newest_digest, NOW - 12 * DAY), digests or {})


def test_behind_and_lag() -> None:
    f = freshness(running("19.04.1"), view(["19.04.1", "19.04.4", "19.04.5"]), NOW)
    assert (f.behind, f.stale, f.lag, f.age) == (2, True, 12 * DAY, 10 * DAY)
    assert (
        f.summary()
        == "centreon-engine runs 19.04.1, newest 19.04.5 (2 releases behind, newer image available for 12 days)"
    )


def test_build_numbers_fold_into_releases() -> None:
    f = freshness(running("19.04.1"), view(["19.04.1", "19.04.5-1", "19.04.5-2"]), NOW)
    assert f.newer_releases == ("19.04.5",)
    f = freshness(running("19.04.5-1"), view(["19.04.5-1", "19.04.5-2"]), NOW)
    assert f.stale and f.newer_releases == ("19.04.5-2",)


def test_fresh_and_same_image_under_another_tag() -> None:
    f = freshness(running("19.04.5", ("sha256:new",)), view(["19.04.5-3", "19.04.5"], "sha256:new"), NOW)
    assert (f.stale, f.lag) == (False, 0.0)
    assert f.summary() == "centreon-engine runs 19.04.5, the newest image, built 10 days ago"


def test_rebuilt_under_the_same_tag() -> None:
    f = freshness(running("19.04.5"), view(["19.04.5"], "sha256:other", {"19.04.5": "sha256:other"}), NOW)
    assert (f.rebuilt, f.behind, f.stale) == (True, 1, True)
    assert "was rebuilt in the registry (other digest)" in f.summary()


def test_locally_built_image_without_digest_compares_versions_only() -> None:
    f = freshness(running("19.04.5", ()), view(["19.04.5"], "sha256:other", {"19.04.5": "sha256:other"}), NOW)
    assert not f.stale


def test_running_tag_gone_from_registry() -> None:
    f = freshness(running("19.04.5"), view(["19.04.1"], digests={"19.04.5": None}), NOW)
    assert not f.stale and f.tag_gone
    assert f.summary().endswith("; tag 19.04.5 is no longer in the registry")


def test_not_a_release_tag() -> None:
    r = RunningImage("e", Reference("reg", "c/e", "latest"), None, ("sha256:x",), None, "sha256:id")
    f = freshness(r, view(["19.04.5"]), NOW)
    assert isinstance(f, Freshness) and not f.stale
    assert f.summary() == "e runs latest (not a release tag), newest release 19.04.5"


@pytest.mark.parametrize(
    ("days", "seconds"),
    [("1", "86400"), ("0.5", "43200"), ("7:", "604800:"), ("@1:2", "@86400:172800"), ("~:3", "~:259200"), ("", None)],
)
def test_days_range(days: str, seconds: str | None) -> None:
    assert days_range(days) == seconds


@pytest.mark.parametrize(
    ("header", "path"),
    [
        ('</v2/r/tags/list?n=2&last=b>; rel="next"', "/v2/r/tags/list?n=2&last=b"),
        ("<https://reg/v2/r/tags/list?last=b&n=2>; rel=next", "/v2/r/tags/list?last=b&n=2"),
        ("<HTTPS://REG:443/v2/r/tags/list?last=b>; rel=next", "/v2/r/tags/list?last=b"),
        ("<tags/list?last=c>; rel=next", "/v2/r/tags/tags/list?last=c"),  # relative to the page that named it
        ("", None),
        ("<//other:5000/v2/r/tags/list?last=b>; rel=next", "another origin (https://other:5000)"),
        ("<https://reg:5000/v2/r/tags/list?last=b>; rel=next", "another origin (https://reg:5000)"),
        ("<http://reg/v2/r/tags/list?last=b>; rel=next", "another origin (http://reg:80)"),
    ],
)
def test_link_header(header: str, path: str | None) -> None:
    client = RegistryClient(RegistrySettings(url="https://reg"))
    resp = requests.Response()
    resp.url = "https://reg/v2/r/tags/list?n=2"
    if header:
        resp.headers["Link"] = header
    if path is None or path.startswith("/"):
        assert client._next_page(resp, "r") == path
    else:
        with pytest.raises(RegistryError, match=re.escape(path)):
            client._next_page(resp, "r")
