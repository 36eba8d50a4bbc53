"""core.record: the frozen classes of the plugins' start-up path behave as the frozen dataclasses
they are declared as (mypy checks them as such), without importing dataclasses."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from pollerfleet.checks.container import ContainerQuery, Thresholds
from pollerfleet.core import config, record
from pollerfleet.core.reference import Reference

ROOT = Path(__file__).resolve().parents[2]


@record.dataclass(frozen=True)
class Pair:
    name: str
    size: int = 2
    tags: list[str] = record.field(default_factory=list)


def test_init_by_position_or_keyword_with_defaults_and_factories() -> None:
    assert Pair("a") == Pair(name="a", size=2, tags=[])
    assert Pair("a", 3, ["x"]).tags == ["x"]
    assert Pair("a").tags is not Pair("a").tags  # a factory per instance, as dataclasses
    for bad in (lambda: Pair(), lambda: Pair("a", name="b"), lambda: Pair("a", 1, [], 4), lambda: Pair("a", colour=1)):
        with pytest.raises(TypeError):
            bad()


def test_frozen_equal_hashable_and_readable() -> None:
    p = Pair("a", 3)
    with pytest.raises(AttributeError):
        p.name = "b"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del p.size  # type: ignore[misc]
    assert Reference("r", "x/y", "1") == Reference("r", "x/y", "1") != Reference("r", "x/y", "2")
    assert len({Reference("r", "x/y", "1"), Reference("r", "x/y", "1")}) == 1
    assert Pair("a", 3, ["x"]).__eq__(("a", 3, ["x"])) is NotImplemented
    assert repr(Pair("a")) == "Pair(name='a', size=2, tags=[])"


def test_fields_and_replace_serve_records_and_dataclasses_alike() -> None:
    assert [(f.name, f.type) for f in record.fields(Pair)] == [("name", "str"), ("size", "int"), ("tags", "list[str]")]
    assert record.replace(Pair("a"), size=5) == Pair("a", 5)
    cfg = record.replace(config.Config(), fleet=record.replace(config.FleetSettings(), group="edge"))
    assert cfg.fleet.group == "edge" and cfg.docker == config.DockerSettings()

    @dataclasses.dataclass(frozen=True)
    class Real:
        a: int = 1

    assert [f.name for f in record.fields(Real)] == ["a"]
    assert record.replace(Real(), a=2) == Real(2)


def test_a_non_default_field_after_a_default_one_is_refused() -> None:
    with pytest.raises(TypeError):

        @record.dataclass(frozen=True)
        class Bad:
            a: int = 1
            b: int  # type: ignore[misc]


def test_thresholds_come_per_metric_from_the_options() -> None:
    class Args:
        warning_restarts, critical_restarts, warning_uptime, critical_uptime = "3", "", "300:", "60:"

    assert Thresholds.from_options(Args()) == Thresholds(uptime=("300:", "60:"), restarts=("3", None))
    assert Thresholds.from_options(object()) == Thresholds() == ContainerQuery().thresholds


def test_the_container_checks_modules_import_no_dataclasses() -> None:
    code = (
        "import sys; import pollerfleet.checks.runtime, pollerfleet.checks.container; "
        "print(sorted({'dataclasses', 'inspect'} & set(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={"PYTHONPATH": str(ROOT / "lib")}
    )
    assert out.stdout.strip() == "[]"
