"""The rebuild decision (decide_rebuild) as a table: no I/O, every rule on its own."""

from __future__ import annotations

from typing import Optional

import pytest

from pollerfleet.actions.decide import Action, decide_rebuild
from pollerfleet.clients.jenkins import BuildRef
from pollerfleet.clients.upstream import Package
from pollerfleet.core.versions import parse_tag
from pollerfleet.images.release import ReleaseStatus

JOB, PARAM = "build-centreon-poller", "CENTREON_ENGINE_VERSION"


def status(image: Optional[str], *missing: str) -> ReleaseStatus:
    packages = [Package("centreon-engine", 0, v, "1.el7", 1.0, "repo") for v in missing]
    return ReleaseStatus(
        "centreon-engine",
        packages or [Package("centreon-engine", 0, "19.04.5", "1", 1.0, "r")],
        parse_tag(image) if image else None,
        packages,
    )


def running(version: str, number: Optional[int] = 7) -> BuildRef:
    return BuildRef(JOB, {PARAM: version}, queue_id=40, number=number, building=number is not None)


CASES = [
    (
        "newest missing, nothing in the way",
        status("19.04.5", "19.04.10"),
        "",
        [],
        False,
        ("19.04.10", Action.TRIGGERED, f"{JOB} with {PARAM}=19.04.10"),
    ),
    (
        "dry run",
        status("19.04.5", "19.04.10"),
        "",
        [],
        True,
        ("19.04.10", Action.WOULD_TRIGGER, f"{JOB} with {PARAM}=19.04.10"),
    ),
    ("nothing missing", status("19.04.10"), "", [], False, ("", Action.IGNORED, "centreon-engine")),
    (
        "not a version",
        status("19.04.5"),
        "19.04.10;id",
        [],
        False,
        ("19.04.10;id", Action.REFUSED, "'19.04.10;id' is not a release version like 19.04.5"),
    ),
    (
        "an image exists, or a newer one",
        status("19.04.10"),
        "19.04.6",
        [],
        False,
        ("19.04.6", Action.SKIPPED, "an image for 19.04.6 (or newer: 19.04.10) already exists"),
    ),
    (
        "already running",
        status("19.04.5", "19.04.10"),
        "",
        [running("19.04.10")],
        False,
        ("19.04.10", Action.SKIPPED, "a build of 19.04.10 is already running"),
    ),
    (
        "already queued",
        status("19.04.5", "19.04.10"),
        "",
        [running("19.04.10", None)],
        True,
        ("19.04.10", Action.SKIPPED, "a build of 19.04.10 is already queued"),
    ),
    (
        "another version's build is no reason to wait",
        status("19.04.5", "19.04.10"),
        "",
        [running("19.04.9")],
        False,
        ("19.04.10", Action.TRIGGERED, f"{JOB} with {PARAM}=19.04.10"),
    ),
]


@pytest.mark.parametrize(
    ("st", "version", "active", "dry_run", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_decide_rebuild(
    st: ReleaseStatus, version: str, active: list[BuildRef], dry_run: bool, expected: tuple[str, Action, str]
) -> None:
    asked, ruling = decide_rebuild(st, version, active, JOB, PARAM, dry_run)
    assert (asked, ruling.action) == expected[:2]
    assert expected[2] in ruling.reason, ruling.reason
    assert (ruling.params is not None) is (ruling.action == Action.TRIGGERED)
    # a skip for a build on its way names that build, and only that one
    assert ruling.on_its_way is next(
        (b for b in active if "is already" in ruling.reason and b.params[PARAM] == asked), None
    )
