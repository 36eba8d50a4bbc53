"""images/centreon-engine/healthcheck.sh's verdict on an engine's status file and a broker module's
statistics, edge case by edge case. pgrep is a stand-in here (the process it names is real: the
script reads its command line and age from /proc); the whole script runs
against a real engine in tests/integration/test_twin_monitoring.py. The broker module's statistics
are what centreon-broker 19.04 writes (stats/src/builder.cc: "endpoint NAME" objects whose "state"
is connected, connecting or blocked) into the json_fifo of the module's configuration (Centreon
19.04.5 www/class/config-generate/broker.class.php:238-244)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import ROOT

HEALTHCHECK = ROOT / "images" / "centreon-engine" / "healthcheck.sh"


@dataclass
class Engine:
    tmp: Path
    pid: int

    @property
    def main(self) -> Path:
        return self.tmp / "centengine.cfg"

    def configure(self, broker: str = "") -> None:
        lines = [f"status_file={self.tmp}/status.dat", "interval_length=1", "status_update_interval=1"]
        # as Centreon 19.04 generates them: the external command module first, then cbmod
        lines.append("broker_module=/usr/lib64/centreon-engine/externalcmd.so")
        if broker:
            lines.append(f"broker_module=/usr/lib64/nagios/cbmod.so {broker}")
        self.main.write_text("\n".join(lines) + "\n")

    def status(self, start: float, objects: list[dict[str, object]], checks: str = "1") -> None:
        text = f"info {{\n\tcreated={int(time.time())}\n\t}}\n\nprogramstatus {{\n\tnagios_pid={self.pid}\n"
        text += f"\tprogram_start={int(start)}\n\tactive_service_checks_enabled={checks}\n"
        text += f"\tactive_host_checks_enabled={checks}\n\t}}\n\n"
        for o in objects:
            fields = {"check_interval": 5, "check_type": 0, "active_checks_enabled": 1, **o}
            kind = fields.pop("kind", "hoststatus")
            text += f"{kind} {{\n" + "".join(f"\t{k}={v}\n" for k, v in fields.items()) + "\t}\n\n"
        (self.tmp / "status.dat").write_text(text)

    def health(self, **env: str) -> tuple[int, str]:
        r = subprocess.run(
            ["bash", str(HEALTHCHECK)],
            env={
                "PATH": f"{self.tmp / 'bin'}:/usr/bin:/bin",
                "ENGINE_COMMAND_FILE": str(self.tmp / "centengine.cmd"),
                "HEALTH_MIN_WINDOW": "0",  # the engine's own intervals alone, on a test's clock
                "ENGINE_START_SECONDS": "0",  # the stand-in engine has just started
                **env,
            },
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
        assert r.stderr == ""
        return r.returncode, r.stdout.strip()


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """A process that stands for centengine: its last argument is the main file."""
    main = tmp_path / "centengine.cfg"
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", str(main)])
    stubs = tmp_path / "bin"
    stubs.mkdir()
    (stubs / "pgrep").write_text(f"#!/bin/sh\necho {proc.pid}\n")
    for stub in stubs.iterdir():
        stub.chmod(0o755)
    os.mkfifo(tmp_path / "centengine.cmd")
    e = Engine(tmp_path, proc.pid)
    e.configure()
    yield e
    proc.kill()
    proc.wait()


def test_an_engine_that_ran_a_check_recently_is_healthy(engine: Engine) -> None:
    now = time.time()
    engine.status(now - 3, [{"host_name": "web01", "last_check": int(now - 2)}])
    rc, out = engine.health()
    assert rc == 0 and re.fullmatch(r"engine ran checks [2-4] s ago; broker module: not configured", out), out


def test_an_engine_younger_than_supervisords_start_time_is_not_healthy_yet(engine: Engine) -> None:
    """supervisord restarts a crashing engine: one that never lives past startsecs never passes."""
    now = time.time()
    engine.status(now - 3, [{"host_name": "web01", "last_check": int(now - 2)}])
    rc, out = engine.health(ENGINE_START_SECONDS="5")
    assert (rc, out) in ((1, "centengine started only 0 s ago"), (1, "centengine started only 1 s ago"))


@pytest.mark.parametrize(
    ("start", "objects", "checks", "reason"),
    [
        # the status file an earlier engine left on the mount
        (-100, [{"last_check": -99}], "1", "is not this engine's yet"),
        (-3, [{"last_check": -1}], "0", "engine executes no checks: active host and service checks are disabled"),
        (-3, [{"last_check": -1, "active_checks_enabled": 0}], "1", "no host or service is actively checked"),
        # the retained last check of the previous engine does not count
        (-3, [{"last_check": -50}], "1", "engine has run no check since it started "),
        # a passive result is no check the engine ran
        (-3, [{"last_check": -1, "check_type": 1}], "1", "engine has run no check since it started "),
        (-2, [{"last_check": -2, "check_interval": 0.25}], "1", "(more than 3 x its shortest interval 0.25 s)"),
    ],
)
def test_an_engine_that_runs_no_checks_is_unhealthy_and_says_why(
    engine: Engine, start: int, objects: list[dict[str, object]], checks: str, reason: str
) -> None:
    now = time.time()
    engine.status(now + start, [{**o, "last_check": int(now + int(o["last_check"]))} for o in objects], checks)
    rc, out = engine.health()
    assert rc == 1 and reason in out, out


def module_config(tmp: Path, stats: Path | None) -> Path:
    """A poller's module configuration as Centreon 19.04 generates it (XML, the stats block last)."""
    path = tmp / "poller-module.xml"
    block = f"<stats><type>stats</type><name>poller-module-stats</name><json_fifo>{stats}</json_fifo></stats>"
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<centreonBroker><broker_name>poller-module</broker_name>'
        "<cache_directory>/var/lib/centreon-broker</cache_directory><output><name>central-module-master-output"
        "</name><type>ipv4</type><host>central</host><port>5669</port></output>"
        + (block if stats else "")
        + "</centreonBroker>\n"
    )
    return path


def stats(state: str, success: float) -> bytes:
    doc = {
        "version": "19.04.0",
        "pid": "42",
        "now": str(int(time.time())),
        "endpoint central-module-master-output": {
            "state": state,
            "last_connection_attempt": str(int(time.time())),
            "last_connection_success": str(int(success)),
            "queued_events": "0",
        },
    }
    return json.dumps(doc).encode()


def test_a_broker_module_connected_to_the_central_through_its_stats_fifo(engine: Engine) -> None:
    fifo = engine.tmp / "poller-module-stats.json"
    os.mkfifo(fifo)

    def cbmod() -> None:  # as the stats endpoint does: open for writing when a reader waits, write, close
        with open(fifo, "wb") as f:
            f.write(stats("connected", time.time() - 600))

    writer = threading.Thread(target=cbmod, daemon=True)
    writer.start()
    engine.configure(str(module_config(engine.tmp, fifo)))
    now = time.time()
    engine.status(now - 3, [{"last_check": int(now - 1)}])
    rc, out = engine.health()
    writer.join(5)
    assert rc == 0 and out.endswith("; broker module: connected to the central (central-module-master-output)"), out


def test_a_broker_module_that_lost_the_central_is_unhealthy(engine: Engine) -> None:
    file = engine.tmp / "poller-module-stats.json"
    file.write_bytes(stats("connecting", time.time() - 300))
    engine.configure(str(module_config(engine.tmp, file)))
    now = time.time()
    engine.status(now - 3, [{"last_check": int(now - 1)}])
    rc, out = engine.health()
    assert rc == 1 and re.fullmatch(
        r"broker module: endpoint central-module-master-output is connecting \(last connected 30[0-2] s ago\); "
        r"engine ran checks [1-3] s ago",
        out,
    ), out
    file.write_bytes(stats("connecting", 0))
    assert "is connecting (never connected)" in engine.health()[1]


def test_a_broker_module_whose_stats_never_come_is_unhealthy(engine: Engine) -> None:
    fifo = engine.tmp / "poller-module-stats.json"
    os.mkfifo(fifo)  # nobody writes: cbmod is not running its stats endpoint
    engine.configure(str(module_config(engine.tmp, fifo)))
    now = time.time()
    engine.status(now - 3, [{"last_check": int(now - 1)}])
    rc, out = engine.health()
    assert rc == 1 and out.startswith(f"broker module: no statistics from {fifo} within 3 s; engine ran"), out


def test_a_broker_module_without_statistics_is_named_not_judged(engine: Engine) -> None:
    config = module_config(engine.tmp, None)
    engine.configure(str(config))
    now = time.time()
    engine.status(now - 3, [{"last_check": int(now - 1)}])
    rc, out = engine.health()
    assert rc == 0 and out.endswith(
        f"; broker module: configured, connection not judged (no statistics json_fifo in {config})"
    ), out
