"""reconcile and inventory host names that are no host names: never judged, refused, audited."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

from pollerfleet.actions.reconcile import reconcile
from pollerfleet.actions.redeploy import Decision, Redeployer
from pollerfleet.actions.staleness import Staleness
from pollerfleet.core import config
from pollerfleet.core.inventory import PollerHost
from pollerfleet.images.desired import Target


def test_a_forged_host_name_is_never_judged_and_is_refused(tmp_path: Path) -> None:
    fleet = {"state_dir": str(tmp_path / "state"), "audit_log": str(tmp_path / "audit.log")}
    cfg = config.parse({"fleet": fleet}, tmp_path / "fleet.toml")
    judged: list[str] = []

    def staleness_of(h: PollerHost) -> Staleness:
        judged.append(h.name)
        return Staleness(h.name, False, "fresh")

    said: list[str] = []
    forged = "poller02\n1700000000 DISABLE_NOTIFICATIONS"
    out = reconcile(Redeployer(cfg), [PollerHost("poller01"), PollerHost(forged)], staleness_of, report=said.append)
    assert judged == ["poller01"]  # its daemon (whatever the inventory says) is not even asked
    assert [(d.action, d.reason) for d in out.decisions] == [
        ("refused", "'poller02?1700000000 DISABLE_NOTIFICATIONS' is not a valid host name (RFC 1123)")
    ]
    assert out.exit_code == 1
    assert all("\n" not in line for line in said), said
    audit = [json.loads(line) for line in (tmp_path / "audit.log").read_text().splitlines()]
    assert [(a["action"], a["source"]) for a in audit] == [("refused", "reconcile")]


def test_the_target_judged_stale_is_the_one_requested(tmp_path: Path) -> None:
    fleet = {"state_dir": str(tmp_path / "state"), "audit_log": str(tmp_path / "audit.log")}
    cfg = config.parse({"fleet": fleet}, tmp_path / "fleet.toml")
    judged = Target("registry.example:5000/centreon/centreon-engine", "19.04.5", "sha256:" + "2" * 64)
    asked: list[Optional[Target]] = []

    class Recording(Redeployer):
        def request(self, host: str, **kw: Any) -> Decision:  # type: ignore[override]
            asked.append(kw.get("target"))
            return Decision(host, "would-trigger", "recorded", source="reconcile")

    reconcile(Recording(cfg), [PollerHost("poller01")], lambda h: Staleness(h.name, True, "stale", target=judged))
    assert asked == [judged]  # not resolved a second time, where the registry may answer otherwise
