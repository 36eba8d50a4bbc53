"""The desired-image rule (desired.py) and the held verdict (images.freshness), on values.

The registry is faked here only to pin down edge cases of the rule; the real registry path runs in
the integration tests (deploy script, handler, e2e)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

import pytest

from pollerfleet.clients.registry import ImageInfo, NotFound, RegistryError
from pollerfleet.core.config import Config, RegistrySettings
from pollerfleet.core.inventory import PollerHost
from pollerfleet.core.reference import Reference
from pollerfleet.core.versions import Policy, parse_tag
from pollerfleet.images.desired import DesiredImages, RegistryUnreadable, TargetError, parse_reference
from pollerfleet.images.freshness import RegistryView, RunningImage, freshness

D1, D2, D3 = ("sha256:" + c * 64 for c in "123")
REPO = "registry.example:5000/centreon/centreon-engine"


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        (f"{REPO}:19.04.5@{D1}", True),
        (f"{REPO}:19.04.5-3@{D1}", True),
        (f"{REPO}:v19.04.5@{D1}", True),
        (f"centreon/centreon-engine:19.04.5@{D1}", True),
        (f"{REPO}:latest@{D1}", False),  # not a release tag
        (f"{REPO}:19.04.5@sha256:{'1' * 63}", False),
        (f"{REPO}:19.04.5@sha256:{'G' * 64}", False),
        (f"{REPO}:19.04.5", False),  # a tag alone can move
        (f"{REPO}@{D1}", False),
        (f"{REPO}:19.04.5@{D1}\n", False),
        (f"{REPO}:19.04.5@{D1};reboot", False),
        ("", False),
    ],
)
def test_parse_reference(text: str, ok: bool) -> None:
    if ok:
        t = parse_reference(text)
        assert t.reference == text
    else:
        with pytest.raises(TargetError):
            parse_reference(text)


class FakeRegistry:
    """Tags -> digests, and a created time for the newest; NotFound for the rest."""

    def __init__(self, tags: dict[str, str], fail: bool = False) -> None:
        self.tags_ = tags
        self.fail = fail

    def tags(self, repository: str) -> list[str]:
        if self.fail:
            raise RegistryError("connection refused")
        return list(self.tags_)

    def digest(self, repository: str, tag: str) -> str:
        if self.fail:
            raise RegistryError("connection refused")
        if tag not in self.tags_:
            raise NotFound(f"{tag} not found")
        return self.tags_[tag]

    def image(self, repository: str, tag: str) -> ImageInfo:
        return ImageInfo(tag, self.digest(repository, tag), 1_000_000.0)


def images(tags: dict[str, str], fail: bool = False, url: str = "https://registry.example:5000") -> DesiredImages:
    cfg = Config(registry=RegistrySettings(url=url, cache_dir=Path("/nonexistent")))
    fake = FakeRegistry(tags, fail)
    return DesiredImages(cfg, Policy(), connect=lambda s, p: fake)  # type: ignore[arg-type,return-value]


def host(pin: Optional[str] = None, repo: str = REPO) -> PollerHost:
    hv: dict[str, object] = {"poller_image_repository": repo}
    if pin is not None:
        hv["poller_image_tag"] = pin
    return PollerHost("poller01", hv)


def test_newest_release_at_its_current_digest() -> None:
    t = images({"19.04.1": D1, "19.04.5": D2, "19.04.5-2": D3, "latest": D3}).for_host(host())
    assert (t.reference, t.held) == (f"{REPO}:19.04.5-2@{D3}", False)


def test_a_pin_is_the_desired_image_and_says_what_it_holds_back_from() -> None:
    t = images({"19.04.1": D1, "19.04.5": D2}).for_host(host(pin="19.04.1"))
    assert (t.reference, t.held, t.newest) == (f"{REPO}:19.04.1@{D1}", True, "19.04.5")


def test_a_pin_missing_from_the_registry_is_refused() -> None:
    with pytest.raises(TargetError, match=re.escape("pinned tag 19.04.3")):
        images({"19.04.5": D2}).for_host(host(pin="19.04.3"))


def test_an_unreadable_registry_is_its_own_error() -> None:
    with pytest.raises(RegistryUnreadable, match="connection refused"):
        images({}, fail=True).for_host(host())


def test_a_repository_outside_the_configured_registry_is_refused() -> None:
    with pytest.raises(TargetError, match="not in the configured registry"):
        images({"19.04.5": D2}).for_host(host(repo="evil.example/centreon/centreon-engine"))


@pytest.mark.parametrize(
    ("wanted", "pin", "result"),
    [
        ("19.04.1", None, f"{REPO}:19.04.1@{D1}"),
        (f"{REPO}:19.04.1@{D1}", None, f"{REPO}:19.04.1@{D1}"),
        (f"{REPO}:19.04.1@{D2}", None, "refusing a digest the registry no longer serves"),
        ("19.04.9", None, "is not in the registry"),
        ("latest", None, "not a release tag"),
        (f"other.example/x/y:19.04.1@{D1}", None, "is not the repository of poller01"),
        ("19.04.5", "19.04.1", "held at 19.04.1"),
        ("19.04.1", "19.04.1", f"{REPO}:19.04.1@{D1}"),
    ],
)
def test_an_operators_choice_is_checked(wanted: str, pin: Optional[str], result: str) -> None:
    d = images({"19.04.1": D1, "19.04.5": D2})
    if result.startswith(REPO):
        assert d.chosen(host(pin=pin), wanted).reference == result
    else:
        with pytest.raises(TargetError, match=re.escape(result)):
            d.chosen(host(pin=pin), wanted)


def running(tag: str, digests: tuple[str, ...]) -> RunningImage:
    return RunningImage("centreon-engine", Reference.parse(f"{REPO}:{tag}"), parse_tag(tag), digests, 0.0, "sha256:i")


@pytest.mark.parametrize(
    ("run", "held", "stale", "summary"),
    [
        (running("19.04.1", (D1,)), ImageInfo("19.04.1", D1), False, "runs 19.04.1, held at 19.04.1 (newest 19.04.5)"),
        (
            running("19.04.5", (D2,)),
            ImageInfo("19.04.1", D1, 100.0),
            True,
            "runs 19.04.5, but the host is held at 19.04.1 (newest 19.04.5): redeploy to the pin",
        ),
        # the pin's tag pushed again: same tag, another digest -> back to the pin's new digest
        (running("19.04.1", (D1,)), ImageInfo("19.04.1", D3, 100.0), True, "held at 19.04.1"),
        (running("19.04.5", (D2,)), None, False, "runs 19.04.5, the newest image"),
        (running("19.04.1", (D1,)), None, True, "runs 19.04.1, newest 19.04.5 (1 release behind"),
    ],
)
def test_freshness_against_the_desired_image(
    run: RunningImage, held: Optional[ImageInfo], stale: bool, summary: str
) -> None:
    view = RegistryView(
        [parse_tag("19.04.1"), parse_tag("19.04.5")],  # type: ignore[list-item]
        ImageInfo("19.04.5", D2, 50.0),
        {"19.04.1": D1, "19.04.5": D2},
    )
    f = freshness(run, view, now=200.0, held=held)
    assert f.stale is stale
    assert summary in f.summary()
    if held is not None:
        assert f.desired == held
        assert f.lag == (100.0 if stale else 0.0)


class FakeDocker:
    """One container running TAG of REPO at DIGEST, as the Engine API describes it."""

    def __init__(self, tag: str, digest: str) -> None:
        self.tag, self.digest = tag, digest

    def inspect_container(self, name: str) -> dict[str, object]:
        return {"Config": {"Image": f"{REPO}:{self.tag}"}, "Image": "sha256:" + "f" * 64}

    def inspect_image(self, image_id: str) -> dict[str, object]:
        return {"RepoDigests": [f"{REPO}@{self.digest}"], "Created": "2026-01-01T00:00:00Z"}


@pytest.mark.parametrize("pin", [None, "19.04.1"])
def test_the_verdict_is_judged_against_the_one_rule(pin: Optional[str]) -> None:
    d = images({"19.04.1": D1, "19.04.5": D2})
    judged = d.freshness_of(FakeDocker("19.04.1", D1), "centreon-engine", host(pin=pin))  # type: ignore[arg-type]
    assert judged.target == d.for_host(host(pin=pin)) == d.resolve(host(pin=pin))
    assert judged.freshness.stale is (pin is None)
