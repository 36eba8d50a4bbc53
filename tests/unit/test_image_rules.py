"""When reconcile calls a stale image CRITICAL: the image check's thresholds, on values."""

from __future__ import annotations

import pytest

from pollerfleet.actions.judge import ImageRules
from pollerfleet.core.versions import parse_tag
from pollerfleet.images.freshness import Freshness, Reference, RunningImage

DAY = 86400


def verdict(newer: tuple[str, ...], lag_days: float) -> Freshness:
    running = RunningImage("e", Reference("r", "c/e", "19.04.1"), parse_tag("19.04.1"), (), None, "sha256:x")
    return Freshness(running, None, newer, False, False, lag_days * DAY, None)


@pytest.mark.parametrize(
    ("rules", "newer", "lag", "critical"),
    [
        (ImageRules(), (), 30, False),  # fresh is never critical
        (ImageRules(), ("19.04.5",), 0.5, False),  # within the default 1-day grace
        (ImageRules(), ("19.04.5",), 1.5, True),
        (ImageRules(critical_behind="0"), ("19.04.5",), 0, True),
        (ImageRules(critical_behind="1", critical_lag_days=""), ("19.04.5",), 10, False),
        (ImageRules(critical_behind="1", critical_lag_days=""), ("19.04.4", "19.04.5"), 0, True),
    ],
)
def test_critical(rules: ImageRules, newer: tuple[str, ...], lag: float, critical: bool) -> None:
    assert rules.critical(verdict(newer, lag)) is critical


@pytest.mark.parametrize("rules", [ImageRules(), ImageRules(critical_behind="5", critical_lag_days="")])
def test_a_wrong_image_is_critical_whatever_the_grace(rules: ImageRules) -> None:
    running = RunningImage("e", Reference("r", "c/e", "debug"), parse_tag("19.04.5"), ("sha256:x",), None, "sha256:x")
    wrong = Freshness(
        running, None, (), False, False, 0.0, None, None, "e runs r/c/e:debug, which is not a release tag"
    )
    assert wrong.stale and rules.critical(wrong)
