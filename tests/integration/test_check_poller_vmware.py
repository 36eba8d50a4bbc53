"""check_poller_vmware against the real daemon: both containers on an --internal network that
nothing sends traffic to."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.helpers import Docker, run_plugin, wait_for

pytestmark = pytest.mark.docker
UP = r"up \d+[smhd](\d+[smhd])?"


@dataclass
class Pair:
    docker: Docker
    net: str
    engine: str
    vmware: str

    def check(self, *args: str) -> tuple[int, str]:
        r = run_plugin(
            "check_poller_vmware", "--docker-url", self.docker.host, "-n", self.vmware, "--engine", self.engine, *args
        )
        assert r.err == "" and "Traceback" not in r.out
        return r.rc, r.out.rstrip("\n")

    def start_vmware(self, *args: str, network: str = "", cmd: tuple[str, ...] = ()) -> None:
        script = (
            "mkdir -p /etc/centreon; echo 'our %Centreon_Vmware_Config;' > /etc/centreon/centreon_vmware.pm; "
            "touch /etc/centreon/empty.pm; exec sleep 1000000"
        )
        self.docker.run(
            self.vmware[len(self.docker.prefix) :],
            *args,
            network=network or self.net,
            cmd=cmd or ("sh", "-c", script),
        )


counter = 0


@pytest.fixture
def pair(docker: Docker) -> Iterator[Pair]:
    global counter
    counter += 1
    net = docker.name(f"poller-net{counter}")
    docker("network", "create", "--internal", net)
    engine = docker.run(f"vm{counter}-engine", network=net)
    p = Pair(docker, net, engine, docker.name(f"vm{counter}-vmware"))
    yield p
    docker("rm", "-f", p.engine, p.vmware, check=False)
    docker("network", "rm", net, check=False)


CONFIG = "/etc/centreon/centreon_vmware.pm"


def test_present_running_sharing_a_network_with_config(pair: Pair) -> None:
    pair.start_vmware()
    rc, out = pair.check("--config-path", CONFIG, "--network", pair.net)
    assert rc == 0
    assert re.fullmatch(
        rf"VMWARE OK - {pair.vmware} running \(image 1, {UP}\) \| restarts=0c;;;0 uptime=\d+s;;;0", out
    ), out


def test_missing(pair: Pair) -> None:
    rc, out = pair.check()
    assert rc == 2 and out.startswith(f"VMWARE CRITICAL - {pair.vmware} missing (containers on this host: "), out


def test_stopped(pair: Pair) -> None:
    pair.start_vmware(cmd=("sh", "-c", "exit 1"))
    wait_for(lambda: pair.docker.state(pair.vmware) == "exited")
    rc, out = pair.check()
    assert (rc, out) == (2, f"VMWARE CRITICAL - {pair.vmware} exited with code 1 | restarts=0c;;;0")


def test_unhealthy_and_starting(pair: Pair) -> None:
    pair.start_vmware(
        "--health-cmd", "echo port 5700 not listening; exit 1", "--health-interval", "1s", "--health-retries", "1"
    )
    wait_for(lambda: pair.docker.state(pair.vmware, "{{.State.Health.Status}}") == "unhealthy")
    rc, out = pair.check()
    assert rc == 2
    assert out.startswith(f"VMWARE CRITICAL - {pair.vmware} running but unhealthy: port 5700 not listening | ")
    pair.start_vmware("--health-cmd", "true", "--health-interval", "1h", "--health-start-period", "1h")
    rc, out = pair.check()
    assert rc == 1 and "health check still starting" in out


def test_on_another_network(pair: Pair) -> None:
    other = pair.docker.name(f"other-net{counter}")
    pair.docker("network", "create", "--internal", other)
    try:
        pair.start_vmware(network=other)
        rc, out = pair.check()
        assert (rc, out.split(" | ")[0]) == (
            2,
            f"VMWARE CRITICAL - {pair.vmware} shares no network with {pair.engine} ({pair.vmware}: {other}; "
            f"{pair.engine}: {pair.net})",
        )
        rc, out = pair.check("--network", pair.net)
        assert rc == 2 and f"are not both on network {pair.net}" in out
    finally:
        pair.docker("rm", "-f", pair.vmware, check=False)
        pair.docker("network", "rm", other, check=False)


def test_config_file_missing_and_empty(pair: Pair) -> None:
    pair.start_vmware()
    rc, out = pair.check("--config-path", "/etc/centreon/absent.pm")
    assert (rc, out.split(" | ")[0]) == (
        2,
        f"VMWARE CRITICAL - {pair.vmware} has no configuration file /etc/centreon/absent.pm",
    )
    rc, out = pair.check("--config-path", "/etc/centreon/empty.pm")
    assert (rc, out.split(" | ")[0]) == (
        2,
        f"VMWARE CRITICAL - {pair.vmware} configuration file /etc/centreon/empty.pm is empty",
    )


def test_expected_absent(pair: Pair) -> None:
    rc, out = pair.check("--expect", "absent")
    assert (rc, out) == (0, f"VMWARE OK - no {pair.vmware} container, as expected")
    pair.start_vmware()
    rc, out = pair.check("--expect", "ABSENT")
    assert rc == 1
    assert out.startswith(
        f"VMWARE WARNING - {pair.vmware} is running but this host should have none (a leftover "
        "connector polls vCenter for nothing) | "
    )


def test_engine_missing(pair: Pair) -> None:
    pair.start_vmware()
    pair.docker("rm", "-f", pair.engine)
    rc, out = pair.check()
    assert (rc, out.split(" | ")[0]) == (
        2,
        f"VMWARE CRITICAL - engine container {pair.engine} missing: {pair.vmware} serves no one",
    )


def test_restart_thresholds_apply(pair: Pair) -> None:
    pair.start_vmware()
    rc, out = pair.check("--warning-uptime", "3600:")
    assert rc == 1 and re.search(rf"{pair.vmware} {UP} \(outside range 3600:\)", out), out
