"""The operator's promotion commands: who asked is the login name (SUDO_USER under sudo), a bad
reference is refused and audited, a block is recorded with its reason before Jenkins is asked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pollerfleet.actions.promote import Promoter, who_asked
from pollerfleet.clients.jenkins import JenkinsError
from pollerfleet.core.config import Config, FleetSettings
from pollerfleet.images.promotion_state import PromotionState

REF = "r.example:5000/c/e:19.04.5-2@sha256:" + "b" * 64


def cfg(tmp_path: Path) -> Config:
    return Config(fleet=FleetSettings(state_dir=tmp_path / "state", audit_log=tmp_path / "audit.log"))


def test_who_asked_is_the_sudo_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUDO_USER", "alice")
    assert who_asked() == "alice"


def test_a_bad_reference_is_refused_and_audited(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUDO_USER", "alice")
    d = Promoter(cfg(tmp_path)).operator("promote", "not-a-ref")
    assert d.action == "refused"
    record = json.loads((tmp_path / "audit.log").read_text().splitlines()[-1])
    assert record["asked_by"] == "alice" and record["kind"] == "promotion"


class DownJenkins:
    def trigger(self, job: str, params: dict[str, str]) -> int:
        raise JenkinsError("connection refused")


def test_a_block_is_recorded_even_when_jenkins_is_down(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUDO_USER", "bob")
    d = Promoter(cfg(tmp_path), jenkins=lambda: DownJenkins()).operator("block", REF, "breaks ping")  # type: ignore[arg-type,return-value]
    assert d.action == "error" and "could not be triggered" in d.reason
    blocked = PromotionState(tmp_path / "state").blocked()
    assert blocked["sha256:" + "b" * 64]["reason"] == "breaks ping"
    assert blocked["sha256:" + "b" * 64]["by"] == "bob"
    record = json.loads((tmp_path / "audit.log").read_text().splitlines()[-1])
    assert record["source"] == "operator bob"
