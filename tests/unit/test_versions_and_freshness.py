"""The version policy and the freshness verdict, pinned down on values (the integration tests run
the same paths against the real registry)."""

from __future__ import annotations

import re

import pytest
import requests

from pollerfleet.checks.image import days_range
from pollerfleet.clients.registry import ImageInfo, RegistryClient, RegistryError
from pollerfleet.core.config import RegistrySettings
from pollerfleet.core.reference import Reference
from pollerfleet.core.versions import Policy, parse_tag
from pollerfleet.images.freshness import Freshness, RegistryView, RunningImage, freshness

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


# -- a wrong image: not a matter of thresholds (#22.6) ----------------------------------------------
def test_an_image_built_on_the_host_is_wrong_whatever_its_tag() -> None:
    f = freshness(running("19.04.5", ()), view(["19.04.5"], "sha256:other", {"19.04.5": "sha256:other"}), NOW)
    assert f.stale and f.wrong
    assert f.summary() == (
        "centreon-engine runs 19.04.5 (image sha256:id) with no registry digest: built or loaded on the host, "
        "not an image of reg/c/e the registry knows; the desired image is 19.04.5@sha256:other"
    )


def test_a_digest_the_registry_does_not_serve_is_wrong() -> None:
    """A newer-looking tag than any release, gone from (or never in) the registry."""
    f = freshness(running("19.04.9"), view(["19.04.1"], digests={"19.04.9": None}), NOW)
    assert f.stale and f.tag_gone
    assert f.wrong == (
        "centreon-engine runs 19.04.9@sha256:run, a digest the registry does not serve (reg/c/e:19.04.9 is not in "
        "the registry)"
    )


@pytest.mark.parametrize("tag", ["latest", "debug", ""])
def test_not_a_release_tag_is_wrong(tag: str) -> None:
    r = RunningImage("e", Reference("reg", "c/e", tag), parse_tag("19.04.5"), ("sha256:x",), None, "sha256:id")
    f = freshness(r, view(["19.04.5"]), NOW)  # the version label says 19.04.5: the tag is what runs
    assert isinstance(f, Freshness) and f.stale
    assert (
        f.summary()
        == f"e runs reg/c/e:{tag or '(no tag)'}, which is not a release tag; the desired image is 19.04.5@sha256:new"
    )


def test_another_repository_is_wrong_even_at_a_newer_version() -> None:
    r = RunningImage(
        "e", Reference("evil.example.org", "someone/backdoor", "99.0.0"), parse_tag("99.0.0"), ("sha256:x",), None, ""
    )
    f = freshness(r, view(["19.04.5"], digests={"99.0.0": "sha256:x"}), NOW, expected=Reference("reg", "c/e", ""))
    assert f.stale and f.wrong.startswith(
        "e runs evil.example.org/someone/backdoor:99.0.0, not an image of the desired repository reg/c/e"
    )


def test_the_desired_digest_is_right_under_any_tag() -> None:
    r = RunningImage("e", Reference("reg", "c/e", "latest"), None, ("sha256:new",), None, "sha256:id")
    f = freshness(r, view(["19.04.5"]), NOW, expected=Reference("reg", "c/e", ""))
    assert not f.stale and not f.wrong


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


@pytest.mark.parametrize(
    ("text", "short"),
    [
        ("reg:5000/c/e:19.04.5@sha256:" + "ab" * 32, "19.04.5@sha256:abababababab"),
        ("c/e:19.04.5", "19.04.5"),
        ("busybox", "latest"),
    ],
)
def test_one_short_form_for_every_output(text: str, short: str) -> None:
    assert Reference.parse(text).short == short
