"""The centreon-vmware connector beside a poller's engine: present where the host watches VMware,
absent where it does not, running, healthy, on a network it shares with the engine, and with its
configuration deployed.

``assess_vmware`` is the typed verdict (no nagiosplugin state of its own besides the enum), used by
check_poller_vmware and the fleet sweep; the container state itself is judged by
``checks.container.assess``, the same logic as check_poller_container.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import nagiosplugin
from nagiosplugin.state import Critical, Ok, ServiceState, Warn

from pollerfleet.checks.container import (
    ContainerState,
    Thresholds,
    assess,
    inspect_state,
    state_metrics,
    threshold_contexts,
)
from pollerfleet.clients.docker import DockerClient, DockerError

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing at a plugin's start-up
if TYPE_CHECKING:
    from typing import Any, Optional

IGNORED_NETWORKS = {"none", "host"}


@dataclass(frozen=True)
class VmwareVerdict:
    """The state an operator gives the connector on this host, and the one-line reason."""

    state: ServiceState
    reason: str
    container: ContainerState


def config_size(client: DockerClient, container: str, path: str) -> Optional[int]:
    """Size in bytes of PATH inside the running container (a Docker exec of ``stat``), None if absent."""
    code, out = client.exec_run(container, ["stat", "-c", "%s", path])
    if code != 0:
        return None
    try:
        return int(out.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise DockerError(f"unexpected answer of stat for {path} in {container}: {out[:60]!r}") from None


def assess_vmware(
    client: DockerClient,
    name: str = "centreon-vmware",
    engine: str = "centreon-engine",
    expect: str = "present",
    network: str = "",
    config_path: str = "",
) -> VmwareVerdict:
    """Raises DockerError when the daemon cannot be asked."""
    # a connector that should be absent and is needs no list of the host's containers
    vm = inspect_state(client, name, suggest=expect != "absent")
    if expect == "absent":
        if vm.exists and vm.status == "running":
            return VmwareVerdict(
                Warn,
                f"{name} is running but this host should have none (a leftover connector polls vCenter for nothing)",
                vm,
            )
        if vm.exists:
            return VmwareVerdict(Ok, f"{name} is {vm.status}, and this host needs none", vm)
        return VmwareVerdict(Ok, f"no {name} container, as expected", vm)
    state, reason = assess(vm)
    if state == Critical:
        return VmwareVerdict(state, reason, vm)
    eng = inspect_state(client, engine)
    if not eng.exists:
        return VmwareVerdict(Critical, f"engine container {engine} missing: {name} serves no one", vm)
    mine = set(vm.networks) - IGNORED_NETWORKS
    theirs = set(eng.networks) - IGNORED_NETWORKS
    if network:
        if network not in mine or network not in theirs:
            return VmwareVerdict(
                Critical,
                f"{name} and {engine} are not both on network {network} "
                f"({name}: {_nets(mine)}; {engine}: {_nets(theirs)})",
                vm,
            )
    elif not mine & theirs:
        return VmwareVerdict(
            Critical, f"{name} shares no network with {engine} ({name}: {_nets(mine)}; {engine}: {_nets(theirs)})", vm
        )
    if config_path:
        size = config_size(client, name, config_path)
        if size is None:
            return VmwareVerdict(Critical, f"{name} has no configuration file {config_path}", vm)
        if size == 0:
            return VmwareVerdict(Critical, f"{name} configuration file {config_path} is empty", vm)
    return VmwareVerdict(state, reason, vm)


def _nets(names: set[str]) -> str:
    return ", ".join(sorted(names)) or "none"


@dataclass(frozen=True)
class VmwareQuery:
    """What check_poller_vmware asks: the connector, the engine it serves, whether the host runs one."""

    name: str = "centreon-vmware"
    engine: str = "centreon-engine"
    network: str = ""  # the network both must be on ('' = any they share)
    expect: str = "present"  # or absent
    config_path: str = ""  # a file that must exist, non-empty, inside the connector
    thresholds: Thresholds = field(default_factory=Thresholds)


def vmware_check(client: DockerClient, q: VmwareQuery) -> nagiosplugin.Check:
    """check_poller_vmware, for the plugin and the sweep alike."""
    return nagiosplugin.Check(
        VmwareResource(client, q), VmwareContext(), *threshold_contexts(q.thresholds), VmwareSummary()
    )


class VmwareResource(nagiosplugin.Resource):
    """The centreon-vmware container of one poller host."""

    def __init__(self, client: DockerClient, query: VmwareQuery) -> None:
        self.client, self.query = client, query

    @property
    def name(self) -> str:
        return str(self.query.name)

    def probe(self) -> list[nagiosplugin.Metric]:
        q = self.query
        try:
            v = assess_vmware(self.client, q.name, q.engine, q.expect, q.network, q.config_path)
        except DockerError as exc:
            raise nagiosplugin.CheckError(str(exc)) from None
        return [nagiosplugin.Metric("vmware", v, context="vmware"), *state_metrics(v.container)]


class VmwareContext(nagiosplugin.Context):
    def __init__(self) -> None:
        super().__init__("vmware")

    def evaluate(self, metric: nagiosplugin.Metric, resource: Any) -> nagiosplugin.Result:
        return self.result_cls(metric.value.state, metric.value.reason, metric)


class VmwareSummary(nagiosplugin.Summary):
    """The verdict first, then any threshold problem."""

    def ok(self, results: nagiosplugin.Results) -> str:
        return str(results["vmware"].hint)

    def problem(self, results: nagiosplugin.Results) -> str:
        try:
            main = results["vmware"]
        except KeyError:
            return str(results.first_significant)
        worst = [str(r) for r in results.most_significant if r is not main]
        return "; ".join([*worst, str(main.hint)]) if main.state == Ok else "; ".join([str(main.hint), *worst])
