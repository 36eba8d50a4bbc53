"""Canary promotion (images/promotion.py) as tables: the desired-image part and the soak verdict,
no I/O."""

from __future__ import annotations

from typing import Any

import pytest

from pollerfleet.images.promotion import (
    CanarySeen,
    Channel,
    PromotionSnapshot,
    Stage,
    Verdict,
    block_tag,
    blocked_digests,
    decide_promotion,
    desired_under_promotion,
    is_canary,
    soak_note,
)

NOW = 1_800_000_000.0
OLD = "sha256:" + "a" * 64
NEW = "sha256:" + "b" * 64
PROMOTED = Channel(OLD, "19.04.5-1")


@pytest.mark.parametrize(
    "name, channel, canary, fleet_has, held, want",
    [
        ("no canaries: today's rule", PROMOTED, False, False, False, ("19.04.5-2", NEW, Stage.NONE)),
        ("a held host: its pin, untouched", PROMOTED, False, True, True, ("19.04.5-2", NEW, Stage.NONE)),
        ("nothing promoted yet: baseline", Channel(), False, True, False, ("19.04.5-2", NEW, Stage.PROMOTED)),
        ("candidate is promoted", Channel(NEW, "19.04.5-2"), False, True, False, ("19.04.5-2", NEW, Stage.PROMOTED)),
        ("canary gets the candidate", PROMOTED, True, True, False, ("19.04.5-2", NEW, Stage.SOAKING)),
        ("others keep the promoted", PROMOTED, False, True, False, ("19.04.5-1", OLD, Stage.SOAKING)),
        (
            "blocked: even canaries go back",
            Channel(OLD, "19.04.5-1", frozenset({NEW})),
            True,
            True,
            False,
            ("19.04.5-1", OLD, Stage.BLOCKED),
        ),
    ],
)
def test_desired_under_promotion(
    name: str, channel: Channel, canary: bool, fleet_has: bool, held: bool, want: Any
) -> None:
    got = desired_under_promotion("19.04.5-2", NEW, channel, canary=canary, fleet_has_canaries=fleet_has, held=held)
    assert (got.tag, got.digest, got.stage) == want, name


def seen(host: str = "c1", digest: str = NEW, **kw: Any) -> CanarySeen:
    kw.setdefault("healthy", True)
    kw.setdefault("started", NOW - 7200)
    return CanarySeen(host, (digest,), **kw)


def snap(*canaries: CanarySeen, channel: Channel = PROMOTED, soak: Any = None) -> PromotionSnapshot:
    return PromotionSnapshot(NEW, "19.04.5-2", channel, tuple(canaries), soak or {})


SOAKING = {"since": NOW - 600, "restarts": 0, "started": NOW - 7200}
SOAKED = {"since": NOW - 1800, "restarts": 0, "started": NOW - 7200}

CASES: list[tuple[str, PromotionSnapshot, Verdict, str, str]] = [
    ("no canaries", snap(), Verdict.NOTHING, "promotion is off", ""),
    ("already promoted", snap(seen(), channel=Channel(NEW, "19.04.5-2")), Verdict.NOTHING, "is the promoted", ""),
    ("already blocked", snap(seen(), channel=Channel(OLD, "", frozenset({NEW}))), Verdict.NOTHING, "blocked", ""),
    ("first image: baseline", snap(seen(), channel=Channel()), Verdict.PROMOTE, "first promoted", ""),
    ("canary not on it yet", snap(seen(digest=OLD)), Verdict.WAIT, "c1 not on it yet", ""),
    ("first sighting starts the soak", snap(seen()), Verdict.WAIT, "0 of 30 min", ""),
    ("soaking", snap(seen(), soak={"c1": SOAKING}), Verdict.WAIT, "10 of 30 min", ""),
    ("soaked", snap(seen(), soak={"c1": SOAKED}), Verdict.PROMOTE, "ran healthy on 1 canaries for 30 min", ""),
    (
        "every canary must have soaked",
        snap(seen(), seen("c2"), soak={"c1": SOAKED, "c2": SOAKING}),
        Verdict.WAIT,
        "10 of 30",
        "",
    ),
    ("rolled back", snap(seen(digest=OLD), soak={"c1": SOAKING}), Verdict.BLOCK, "c1 rolled back", "c1"),
    ("unhealthy", snap(seen(healthy=False), soak={"c1": SOAKING}), Verdict.BLOCK, "turned unhealthy", "c1"),
    ("unhealthy at once", snap(seen(healthy=False)), Verdict.BLOCK, "turned unhealthy", "c1"),
    ("restart count", snap(seen(restarts=1), soak={"c1": SOAKING}), Verdict.BLOCK, "c1 restarted", "c1"),
    ("started again", snap(seen(started=NOW - 60), soak={"c1": SOAKING}), Verdict.BLOCK, "c1 restarted", "c1"),
    ("no-progress deploy", snap(seen(digest=OLD, no_progress=True)), Verdict.BLOCK, "ended without reaching", "c1"),
    ("not healthy yet (starting)", snap(seen(healthy=None)), Verdict.WAIT, "not healthy yet", ""),
    (
        "unobserved canary keeps its soak, promotes nothing",
        snap(CanarySeen("c1", error="timeout"), soak={"c1": SOAKED}),
        Verdict.WAIT,
        "c1 not observed",
        "",
    ),
    ("unobserved before its soak", snap(CanarySeen("c1", error="timeout")), Verdict.WAIT, "c1 not observed", ""),
    ("restarts before the soak count for nothing", snap(seen(restarts=3)), Verdict.WAIT, "0 of 30 min", ""),
    (
        "a fault on any canary blocks, whoever else is waiting",
        snap(seen("c1", digest=OLD), seen("c2", healthy=False)),
        Verdict.BLOCK,
        "c2 turned unhealthy",
        "c2",
    ),
    (
        "the first faulty canary by name is the one named",
        snap(seen("c2", healthy=False), seen("c1", restarts=1), soak={"c1": SOAKING}),
        Verdict.BLOCK,
        "c1 restarted",
        "c1",
    ),
    (
        "waiting reasons of every canary, by name",
        snap(seen("c2", healthy=None), seen("c1", digest=OLD)),
        Verdict.WAIT,
        "c1 not on it yet; c2 not healthy yet",
        "",
    ),
]


@pytest.mark.parametrize("name, s, verdict, reason, host", CASES, ids=[c[0] for c in CASES])
def test_decide_promotion(name: str, s: PromotionSnapshot, verdict: Verdict, reason: str, host: str) -> None:
    d = decide_promotion(s, 30, NOW)
    assert d.verdict == verdict
    assert reason in d.reason
    assert d.host == host


def test_soak_is_kept_level_triggered() -> None:
    first = decide_promotion(snap(seen()), 30, NOW)
    assert first.soak["c1"]["since"] == NOW
    later = decide_promotion(snap(seen(), soak=first.soak), 30, NOW + 1800)
    assert later.verdict == Verdict.PROMOTE


@pytest.mark.parametrize(
    "canary, kept",
    [
        (CanarySeen("c1", error="timeout"), SOAKED),
        (seen(healthy=None), SOAKED),
        (seen(digest=OLD, healthy=None, error="refused"), SOAKED),
    ],
    ids=["unobserved", "not healthy yet", "unobserved off the candidate"],
)
def test_a_waiting_canary_keeps_its_soak(canary: CanarySeen, kept: Any) -> None:
    d = decide_promotion(snap(canary, seen("c2"), soak={"c1": kept}), 30, NOW)
    assert d.verdict == Verdict.WAIT
    assert d.soak["c1"] == kept
    assert d.soak["c2"]["since"] == NOW  # the healthy one starts its soak meanwhile


def test_a_canary_not_on_it_yet_has_no_soak() -> None:
    d = decide_promotion(snap(seen(digest=OLD), seen("c2")), 30, NOW)
    assert "c1" not in d.soak


@pytest.mark.parametrize(
    "value, want",
    [(True, True), ("yes", True), ("True", True), (1, True), (False, False), ("no", False), (None, False)],
)
def test_is_canary_ansible_truth(value: Any, want: bool) -> None:
    assert is_canary({"poller_canary": value}) is want


def test_block_tags_round_trip() -> None:
    assert blocked_digests([block_tag(NEW), "19.04.5-1", "blocked-xyz", "promoted"]) == frozenset({NEW})


def test_soak_note() -> None:
    assert soak_note("19.04.5-2", 2, NOW - 720, NOW) == "19.04.5-2 on 2 canaries for 12 min"
