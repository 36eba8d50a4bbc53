"""When reconcile calls a stale image CRITICAL: the image check's own metrics and contexts, on values."""

from __future__ import annotations

import nagiosplugin
import pytest

from pollerfleet.checks.image import ImageQuery, state_of
from pollerfleet.core.reference import Reference
from pollerfleet.core.versions import parse_tag
from pollerfleet.images.freshness import Freshness, RunningImage

DAY = 86400


def verdict(newer: tuple[str, ...], lag_days: float) -> Freshness:
    running = RunningImage("e", Reference("r", "c/e", "19.04.1"), parse_tag("19.04.1"), (), None, "sha256:x")
    # as freshness() reaches it: a fresh image has no lag (nothing newer has been waiting)
    return Freshness(running, None, newer, False, False, lag_days * DAY if newer else 0.0, None)


@pytest.mark.parametrize(
    ("rules", "newer", "lag", "critical"),
    [
        (ImageQuery(), (), 30, False),  # fresh is never critical
        (ImageQuery(), ("19.04.5",), 0.5, False),  # within the default 1-day grace
        (ImageQuery(), ("19.04.5",), 1.5, True),
        (ImageQuery(critical_behind="0"), ("19.04.5",), 0, True),
        (ImageQuery(critical_behind="1", critical_lag=""), ("19.04.5",), 10, False),
        (ImageQuery(critical_behind="1", critical_lag=""), ("19.04.4", "19.04.5"), 0, True),
    ],
)
def test_critical(rules: ImageQuery, newer: tuple[str, ...], lag: float, critical: bool) -> None:
    assert (state_of(verdict(newer, lag), rules) == nagiosplugin.Critical) is critical


@pytest.mark.parametrize("rules", [ImageQuery(), ImageQuery(critical_behind="5", critical_lag="")])
def test_a_wrong_image_is_critical_whatever_the_grace(rules: ImageQuery) -> None:
    running = RunningImage("e", Reference("r", "c/e", "debug"), parse_tag("19.04.5"), ("sha256:x",), None, "sha256:x")
    wrong = Freshness(
        running, None, (), False, False, 0.0, None, None, "e runs r/c/e:debug, which is not a release tag"
    )
    assert wrong.stale and state_of(wrong, rules) == nagiosplugin.Critical


def test_a_lag_just_past_the_day_is_critical_in_seconds_as_the_plugin_says() -> None:
    # the plugin compares integer seconds with the range in seconds: 86401 s is past "1" day
    assert state_of(verdict(("19.04.5",), 86401 / DAY), ImageQuery()) == nagiosplugin.Critical
    assert state_of(verdict(("19.04.5",), 1.0), ImageQuery()) != nagiosplugin.Critical
