"""A real monitoring engine for tests: Debian's nagios4 (Centreon Engine is a Nagios fork: the
same object syntax, macros and event-handler rules), run as root from a config in a temp dir.

    engine = Engine(tmp_path, objects_text, resources={"USER1": plugins_dir}).start()
    engine.service("poller01", "Poller image")   # -> dict from status.dat
    engine.stop()

It is stopped by the PID its lock file records, and only that PID.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Optional

NAGIOS = os.environ.get("NAGIOS4", "/usr/sbin/nagios4")


class Engine:
    def __init__(
        self,
        root: Path,
        objects: str,
        resources: Optional[dict[str, str]] = None,
        interval_length: int = 1,
        extra: str = "",
        env: Optional[dict[str, str]] = None,
    ) -> None:
        self.root = root
        self.cfg = root / "nagios.cfg"
        self.status = root / "status.dat"
        self.command_file = root / "rw" / "nagios.cmd"
        self.lock = root / "nagios.lock"
        self.log = root / "nagios.log"
        self.objects = objects
        self.resources = resources or {}
        self.interval_length = interval_length
        self.extra = extra
        self.env = env  # the engine's environment, which its commands inherit (e.g. POLLERFLEET_CONFIG)
        self.pid: Optional[int] = None

    def write(self) -> None:
        for d in ("rw", "spool/checkresults", "archives"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        (self.root / "objects.cfg").write_text(self.objects)
        (self.root / "resource.cfg").write_text("".join(f"${k}$={v}\n" for k, v in self.resources.items()))
        self.cfg.write_text(f"""
log_file={self.log}
cfg_file={self.root / "objects.cfg"}
resource_file={self.root / "resource.cfg"}
object_cache_file={self.root / "objects.cache"}
precached_object_file={self.root / "objects.precache"}
status_file={self.status}
status_update_interval=1
state_retention_file={self.root / "retention.dat"}
retain_state_information=0
temp_file={self.root / "nagios.tmp"}
temp_path={self.root}
lock_file={self.lock}
query_socket={self.root / "rw" / "nagios.qh"}
log_archive_path={self.root / "archives"}
check_result_path={self.root / "spool/checkresults"}
command_file={self.command_file}
check_external_commands=1
nagios_user=root
nagios_group=root
interval_length={self.interval_length}
max_service_check_spread=1
max_host_check_spread=1
service_inter_check_delay_method=n
host_inter_check_delay_method=n
check_result_reaper_frequency=1
enable_event_handlers=1
enable_notifications=0
execute_service_checks=1
execute_host_checks=1
accept_passive_service_checks=1
accept_passive_host_checks=1
check_service_freshness=1
service_freshness_check_interval=1
check_host_freshness=1
host_freshness_check_interval=1
log_event_handlers=1
log_external_commands=1
log_passive_checks=1
use_syslog=0
event_handler_timeout=60
service_check_timeout=60
illegal_macro_output_chars=`~$&|'"<>
{self.extra}
""")

    def verify(self) -> str:
        self.write()
        proc = subprocess.run([NAGIOS, "-v", str(self.cfg)], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise AssertionError(f"nagios4 -v failed:\n{proc.stdout[-3000:]}")
        return proc.stdout

    def start(self) -> Engine:
        self.verify()
        env = None if self.env is None else {**os.environ, **self.env}
        subprocess.run([NAGIOS, "-d", str(self.cfg)], check=True, capture_output=True, env=env)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.lock.exists() and self.lock.read_text().strip().isdigit() and self.command_file.exists():
                self.pid = int(self.lock.read_text().strip())
                return self
            time.sleep(0.1)
        raise AssertionError(f"nagios4 did not start; log:\n{self.log.read_text() if self.log.exists() else ''}")

    def stop(self) -> None:
        if self.pid is None:
            return
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            self.pid = None
            return
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            os.kill(self.pid, signal.SIGKILL)
        self.pid = None

    # -- reading the engine's own status file --------------------------------------------------
    def blocks(self, kind: str) -> list[dict[str, str]]:
        if not self.status.exists():
            return []
        text = self.status.read_text(errors="replace")
        out = []
        for m in re.finditer(rf"^{kind} \{{\n(.*?)\n\t\}}", text, re.S | re.M):
            fields = dict(line.strip().split("=", 1) for line in m.group(1).splitlines() if "=" in line)
            out.append(fields)
        return out

    def service(self, host: str, description: str) -> dict[str, str]:
        for b in self.blocks("servicestatus"):
            if b.get("host_name") == host and b.get("service_description") == description:
                return b
        return {}

    def host(self, name: str) -> dict[str, str]:
        for b in self.blocks("hoststatus"):
            if b.get("host_name") == name:
                return b
        return {}

    def wait(self, predicate, timeout: float = 60, what: str = "") -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.25)
        tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
        raise AssertionError(f"timed out waiting for {what}; engine log tail:\n{tail}")


def define(kind: str, **fields: object) -> str:
    """One object definition in the engine's syntax."""
    return f"define {kind} {{\n" + "".join(f"    {k} {v}\n" for k, v in fields.items()) + "}\n"


COMMON = {"check_period": "24x7", "notification_period": "24x7", "contacts": "nobody"}


def base_objects() -> str:
    """The suite's commands and templates (commands/pollerfleet-objects.cfg) plus what every
    config needs around them: a 24x7 time period and a contact that is never notified."""
    days = {d: "00:00-24:00" for d in ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")}
    root = Path(__file__).resolve().parent.parent
    return "\n".join(
        [
            (root / "commands" / "pollerfleet-objects.cfg").read_text(),
            define("timeperiod", timeperiod_name="24x7", alias="always", **days),
            define("command", command_name="pf_notify_nothing", command_line="/bin/true"),
            define(
                "contact",
                contact_name="nobody",
                host_notifications_enabled=0,
                service_notifications_enabled=0,
                host_notification_period="24x7",
                service_notification_period="24x7",
                host_notification_options="n",
                service_notification_options="n",
                host_notification_commands="pf_notify_nothing",
                service_notification_commands="pf_notify_nothing",
            ),
        ]
    )
