"""How long a canary-gated rollout takes, and how many pollers are down at once, through the real
decision code: ``desired_under_promotion`` and ``decide_promotion`` (images/promotion.py) and the
redeploy decision ``decide`` (actions/decide.py), on a simulated clock. Deploys are stand-ins of a
chosen duration (a host is down while its deploy runs); Jenkins is a list of builds; a reconcile
runs every --reconcile-minutes (the only trigger here: the handlers' edges are a bonus in life).

Prints, per fleet size: the time until the whole fleet runs the new image, the most hosts ever
down at once (never above the budget) and the stage timeline.

    python benchmarks/bench_canary_rollout.py --sizes 60 1000
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))

from pollerfleet.actions.decide import Action, FleetState, Request, Rules, Snapshot, decide
from pollerfleet.clients.jenkins import BuildRef
from pollerfleet.core.config import RedeploySettings
from pollerfleet.images.promotion import (
    CanarySeen,
    Channel,
    PromotionSnapshot,
    Verdict,
    decide_promotion,
    desired_under_promotion,
)

OLD = "sha256:" + "a" * 64
NEW = "sha256:" + "b" * 64
REPO = "registry.example:5000/centreon/engine"
JOB = "deploy-centreon-poller"


@dataclass
class Build:
    host: str
    image: str
    number: int
    ends: float


@dataclass
class Sim:
    size: int
    canaries: int
    deploy_s: float
    reconcile_s: float
    soak_min: float
    rules: RedeploySettings
    now: float = 0.0
    running: dict[str, str] = field(default_factory=dict)
    builds: list[Build] = field(default_factory=list)
    done: list[Build] = field(default_factory=list)
    state: FleetState = field(default_factory=FleetState)
    promoted: str = OLD
    soak: dict[str, dict[str, float]] = field(default_factory=dict)
    timeline: list[tuple[float, str]] = field(default_factory=list)
    max_down: int = 0
    decisions: int = 0

    def hosts(self) -> list[str]:
        return [f"poller{i:04d}" for i in range(self.size)]

    def is_canary(self, host: str) -> bool:
        return int(host[6:]) < self.canaries

    def mark(self, what: str) -> None:
        self.timeline.append((self.now, what))

    def run(self, limit_s: float = 14 * 86400) -> float:
        self.running = {h: OLD for h in self.hosts()}
        self.mark(f"candidate 19.04.5-2 pushed; {self.canaries} canaries, {self.size - self.canaries} others")
        tick = 0.0
        seen_canaries_on = seen_first_other = False
        while self.now < limit_s:
            # deploys that end by now land their image (a stand-in deploy of a fixed duration)
            for b in [b for b in self.builds if b.ends <= self.now]:
                self.builds.remove(b)
                self.running[b.host] = b.image
                self.done.append(b)
            if self.now >= tick:
                tick += self.reconcile_s
                self.reconcile()
                on_new = [h for h, d in self.running.items() if d == NEW]
                if not seen_canaries_on and sum(self.is_canary(h) for h in on_new) == self.canaries:
                    seen_canaries_on = True
                    self.mark("every canary runs the candidate: the soak starts")
                if not seen_first_other and any(not self.is_canary(h) for h in on_new):
                    seen_first_other = True
                    self.mark("the first non-canary runs it")
                if len(on_new) == self.size:
                    self.mark("the whole fleet runs 19.04.5-2")
                    return self.now
            self.max_down = max(self.max_down, len(self.builds))
            self.now += 10.0  # the clock's step: 10 s
        return math.inf

    def reconcile(self) -> None:
        # promotion first, as `pollerfleet reconcile` does
        if self.canaries and self.promoted != NEW:
            seen = tuple(
                CanarySeen(h, (self.running[h],), True, self._started(h), 0) for h in self.hosts() if self.is_canary(h)
            )
            d = decide_promotion(
                PromotionSnapshot(NEW, "19.04.5-2", Channel(self.promoted, "19.04.5-1"), seen, self.soak),
                self.soak_min,
                self.now,
            )
            self.decisions += 1
            self.soak = d.soak
            if d.verdict == Verdict.PROMOTE:
                self.promoted = NEW
                self.mark(f"promoted ({d.reason})")
        queued: list[BuildRef] = []
        jenkins = [
            BuildRef(JOB, {"HOSTNAME": b.host, "POLLER_IMAGE": b.image}, b.number, b.number, True)
            for b in reversed(self.builds)
        ]
        for host in self.hosts():
            choice = desired_under_promotion(
                "19.04.5-2",
                NEW,
                Channel(self.promoted, "19.04.5-1"),
                canary=self.is_canary(host),
                fleet_has_canaries=self.canaries > 0,
            )
            if self.running[host] == choice.digest:
                continue
            image = f"{REPO}:{choice.tag}@{choice.digest}"
            ruling = decide(Snapshot(self.state, queued, jenkins), Request(host, image), Rules(self.rules), self.now)
            self.decisions += 1
            if ruling.action != Action.TRIGGERED:
                continue
            number = len(self.done) + len(self.builds) + 1
            self.builds.append(Build(host, choice.digest, number, self.now + self.deploy_s))
            jenkins.insert(0, BuildRef(JOB, {"HOSTNAME": host, "POLLER_IMAGE": image}, number, number, True))
            self.state.hosts.setdefault(host, {})["last_trigger"] = self.now
            self.state.triggers = [
                *(t for t in self.state.triggers if self.now - float(t["time"]) < 3600),
                {"time": self.now, "host": host, "queue_id": number},
            ]

    def _started(self, host: str) -> float:
        ends = [b.ends for b in self.done if b.host == host]
        return max(ends) if ends else 0.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[60, 1000])
    ap.add_argument("--deploy-minutes", type=float, default=3.0, help="one stand-in deploy (default 3)")
    ap.add_argument("--reconcile-minutes", type=float, default=5.0, help="how often reconcile runs (default 5)")
    ap.add_argument("--soak-minutes", type=float, default=30.0, help="[rollout] soak_minutes (default 30)")
    ap.add_argument("--budget", type=int, default=RedeploySettings().budget)
    args = ap.parse_args()
    for size in args.sizes:
        for cap, label in ((RedeploySettings().hourly_cap, "the default hourly cap"), (100000, "no hourly cap")):
            canaries = max(1, size // 30)
            rules = RedeploySettings(budget=args.budget, hourly_cap=cap, cooldown_minutes=30)
            sim = Sim(
                size,
                canaries,
                args.deploy_minutes * 60,
                args.reconcile_minutes * 60,
                args.soak_minutes,
                rules,
            )
            took = sim.run()
            print(
                f"{size} hosts, {canaries} canaries, budget {args.budget}, {label} ({cap}/h), "
                f"deploys of {args.deploy_minutes:g} min, reconcile every {args.reconcile_minutes:g} min, "
                f"soak {args.soak_minutes:g} min:"
            )
            whole = "never (within 14 days)" if took == math.inf else f"{took / 3600:.1f} h"
            print(f"  whole fleet on the new image after {whole}; most hosts down at once: {sim.max_down}")
            print(f"  {sim.decisions} decisions taken by the real decision code")
            assert sim.max_down <= args.budget, "a rollout took more hosts down than the budget"
            for t, what in sim.timeline:
                print(f"  {t / 60:8.0f} min  {what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
