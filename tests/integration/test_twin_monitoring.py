"""A twin poller deployed by the role monitors, or is not healthy: its health check says the
engine ran checks (from its status file) and whether a broker module is configured; an engine that
runs no checks turns unhealthy, check_poller_container says why, and the role's gate refuses it.
And the engine's own notification reaches postfix: Centreon 19.04's service-notify-by-email
command, as Centreon generates it, run by the engine with its macros, pipes into /bin/mail.

Network rule: containers on an --internal network; the fetch goes through the mounted unix socket
(tests/twin.py); postfix defers the smtp transport, so no mail is even tried beyond the container."""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.centreon_tree import generate
from tests.helpers import ROOT, Docker, run_plugin, wait_for
from tests.twin import central_link, poller_ssh_dir, twin_vars

pytestmark = [
    pytest.mark.docker,
    pytest.mark.registry,
    pytest.mark.ansible,
    pytest.mark.sshd,
    pytest.mark.twin,
    pytest.mark.slow,
]
ANSIBLE = ROOT / "ansible"
PIPE = "/var/lib/centreon-engine/rw/centengine.cmd"

# Centreon 19.04.5 www/install/insertCommands.sql:6, the command_line column of
# service-notify-by-email, as stored (HTML entities, #BR# for line breaks, @MAILER@)
SERVICE_NOTIFY_BY_EMAIL = (
    "/usr/bin/printf &quot;%b&quot; &quot;***** centreon Notification *****#BR##BR#Notification Type: "
    "$NOTIFICATIONTYPE$#BR##BR#Service: $SERVICEDESC$#BR#Host: $HOSTALIAS$#BR#Address: $HOSTADDRESS$#BR#"
    "State: $SERVICESTATE$#BR##BR#Date/Time: $DATE$ Additional Info : $SERVICEOUTPUT$&quot; | @MAILER@ -s "
    "&quot;** $NOTIFICATIONTYPE$ alert - $HOSTALIAS$/$SERVICEDESC$ is $SERVICESTATE$ **&quot; $CONTACTEMAIL$"
)


def generated_command_line(stored: str, mailer: str = "/bin/mail") -> str:
    """What Centreon 19.04.5 writes into commands.cfg for a stored command line with enable_shell=1
    (insertCommands.sql:12): www/class/config-generate/command.class.php:102-111."""
    line = html.unescape(stored).replace("#BR#", "\\n").replace("@MAILER@", mailer)
    line = line.replace("\n", " \\\n").replace("\r", "")
    return "/bin/sh -c '" + line.replace("'", "'\\''") + "'"  # PHP's escapeshellarg


def notify_objects(email: str) -> str:
    return f"""define command {{
  command_name service-notify-by-email
  command_line {generated_command_line(SERVICE_NOTIFY_BY_EMAIL)}
}}
define contact {{
  contact_name oncall
  alias On call
  email {email}
  host_notifications_enabled 0
  service_notifications_enabled 1
  host_notification_period 24x7
  service_notification_period 24x7
  host_notification_options n
  service_notification_options w,u,c,r
  host_notification_commands service-notify-by-email
  service_notification_commands service-notify-by-email
}}
define host {{
  host_name db01
  alias Database 01
  address 127.0.0.1
  check_command check_dummy
  max_check_attempts 1
  check_period 24x7
  active_checks_enabled 0
  passive_checks_enabled 1
  contacts oncall
}}
define service {{
  host_name db01
  service_description Disk
  check_command check_dummy
  max_check_attempts 1
  check_interval 5
  retry_interval 1
  check_period 24x7
  notification_period 24x7
  notification_interval 0
  notification_options w,u,c,r
  active_checks_enabled 0
  passive_checks_enabled 1
  check_freshness 0
  contacts oncall
}}
"""


@dataclass
class Pollers:
    docker: Docker
    tmp: Path
    image: str
    hostvars: dict[str, dict[str, object]]

    def engine(self, host: str) -> str:
        return self.docker.name(f"{host}-engine")

    def deploy(self, host: str) -> subprocess.CompletedProcess[str]:
        inventory = self.tmp / "inventory.json"
        inventory.write_text(json.dumps({"all": {"children": {"pollers": {"hosts": self.hostvars}}}}))
        return subprocess.run(
            [
                str(Path(sys.executable).parent / "ansible-playbook"),
                "-i",
                str(inventory),
                str(ANSIBLE / "deploy_poller.yml"),
                "--limit",
                host,
                "-e",
                f"poller_image={self.image}",
            ],
            capture_output=True,
            text=True,
            timeout=400,
            check=False,
            env={**os.environ, "ANSIBLE_CONFIG": str(ANSIBLE / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"},
        )

    def exec(self, host: str, *cmd: str) -> str:
        return self.docker("exec", self.engine(host), *cmd)

    def health(self, host: str) -> tuple[str, str]:
        state = json.loads(self.docker.state(self.engine(host), "{{json .State.Health}}"))
        log = state.get("Log") or [{}]
        return state["Status"], str(log[-1].get("Output", "")).strip()

    def command(self, host: str, *lines: str) -> None:
        """External commands into the engine's pipe, as the central's echo does."""
        text = "".join(f"[{int(time.time())}] {line}\n" for line in lines)
        self.exec(host, "sh", "-c", f"printf '%s' '{text}' > {PIPE}")


@pytest.fixture(scope="module")
def pollers(
    docker: Docker, twin_image: str, registry: str, sshd: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pollers]:
    tmp = tmp_path_factory.mktemp("monitoring")
    tag = f"{registry}/{docker.prefix.rstrip('-')}/twin-monitoring:19.04.1"
    docker("tag", twin_image, tag)
    docker("push", tag)
    digest = json.loads(docker("image", "inspect", "-f", "{{json .RepoDigests}}", tag))[-1].split("@")[1]
    cache = tmp / "central-cache"
    # mon01 runs checks and has a contact to notify; idle01's engine executes no checks at all;
    # modules=(): nagios4 cannot load Centreon's broker modules (the twin has no cbmod)
    notify = "cfg_file=/etc/centreon-engine/notify.cfg\nenable_notifications=1\n"
    engine = generate(cache, 11, extra=notify, modules=())
    (engine / "notify.cfg").write_text(notify_objects("oncall@example.net"))
    generate(cache, 12, extra="execute_host_checks=0\nexecute_service_checks=0\n", modules=())
    link = tmp / "central-link"
    forwarder = central_link(link, int(sshd["PFT_SSHD_PORT"]))
    central_key = tmp / "central_id"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(central_key)], check=True)
    p = Pollers(docker, tmp, f"{tag}@{digest}", {})
    for host, poller_id in (("mon01", 11), ("idle01", 12)):
        poller_ssh_dir(tmp / host / "srv" / "ssh", Path(sshd["PFT_SSHD_DIR"]))
        p.hostvars[host] = {
            "ansible_connection": "local",
            "ansible_python_interpreter": "{{ ansible_playbook_python }}",
            "ansible_become": False,
            "poller_image_repository": tag.rsplit(":", 1)[0],
            "poller_central_pubkeys": [central_key.with_suffix(".pub").read_text().strip()],
            "centreon_poller_docker_host": docker.host,
            "centreon_poller_base_dir": str(tmp / host / "srv"),
            "centreon_poller_network": docker.name("mon-net"),
            "centreon_poller_network_internal": True,
            "centreon_poller_engine_name": p.engine(host),
            "centreon_poller_health_retries": 60,
            "centreon_poller_health_delay": 1,
            **twin_vars(link, cache, poller_id),
        }
    yield p
    forwarder.close()
    for host in p.hostvars:
        docker("rm", "-f", p.engine(host), check=False)
    docker("network", "rm", docker.name("mon-net"), check=False)


def check_container(p: Pollers, host: str) -> tuple[int, str]:
    r = run_plugin("check_poller_container", "--docker-url", p.docker.host, "-n", p.engine(host))
    assert r.err == "" and "Traceback" not in r.out, r.err
    return r.rc, r.line


def test_a_poller_whose_engine_runs_checks_is_healthy_and_says_what_was_checked(pollers: Pollers) -> None:
    play = pollers.deploy("mon01")
    assert play.returncode == 0, play.stdout[-4000:]
    status, output = pollers.health("mon01")
    assert status == "healthy"
    assert re.fullmatch(r"engine ran checks \d+ s ago; broker module: not configured", output), output
    rc, line = check_container(pollers, "mon01")
    name = pollers.engine("mon01")
    assert rc == 0 and re.match(
        rf"CONTAINER OK - {name} running \(image 19\.04\.1, up \d+[smh]\S*\): engine ran checks \d+ s ago; "
        r"broker module: not configured \| ",
        line,
    ), line


def test_centreon_service_notify_by_email_reaches_postfix_for_the_contact(pollers: Pollers) -> None:
    # smtp stays deferred: the message waits in the queue, nothing is tried beyond the container
    pollers.exec("mon01", "postconf", "-e", "defer_transports = smtp")
    pollers.exec("mon01", "postfix", "reload")
    output = f"DISK CRITICAL - / {os.getpid()} 97% used"
    pollers.command("mon01", f"PROCESS_SERVICE_CHECK_RESULT;db01;Disk;2;{output}")

    def queued() -> list[dict[str, object]]:
        lines = pollers.exec("mon01", "postqueue", "-j").splitlines()
        entries = [json.loads(line) for line in lines if line.strip()]
        return [e for e in entries if any(r["address"] == "oncall@example.net" for r in e["recipients"])]

    wait_for(lambda: queued() != [], 60, step=1, what="the notification in postfix's queue for oncall@example.net")
    (entry,) = queued()
    message = pollers.exec("mon01", "postcat", "-q", str(entry["queue_id"]))
    assert "Subject: ** PROBLEM alert - Database 01/Disk is CRITICAL **" in message, message
    for body in ("Notification Type: PROBLEM", "Service: Disk", "Host: Database 01", "State: CRITICAL"):
        assert body in message, message
    assert f"Additional Info : {output}" in message, message
    # the engine ran it as itself, through Centreon's /bin/sh -c '... | /bin/mail -s ...' line
    assert "sender: centreon-engine@" in message, message
    log = pollers.exec("mon01", "cat", "/var/log/centreon-engine/centengine.log")
    assert "SERVICE NOTIFICATION: oncall;db01;Disk;CRITICAL;service-notify-by-email;" in log


def test_an_engine_that_stops_running_checks_turns_unhealthy_and_the_check_says_why(pollers: Pollers) -> None:
    name = pollers.engine("mon01")
    pollers.command("mon01", "STOP_EXECUTING_HOST_CHECKS", "STOP_EXECUTING_SVC_CHECKS")
    wait_for(lambda: pollers.health("mon01")[0] == "unhealthy", 60, step=1, what="mon01 unhealthy")
    reason = "engine executes no checks: active host and service checks are disabled"
    assert pollers.health("mon01")[1] == reason
    rc, line = check_container(pollers, "mon01")
    assert rc == 2 and line.startswith(f"CONTAINER CRITICAL - {name} running but unhealthy: {reason} | "), line
    pollers.command("mon01", "START_EXECUTING_HOST_CHECKS", "START_EXECUTING_SVC_CHECKS")
    wait_for(lambda: pollers.health("mon01")[0] == "healthy", 60, step=1, what="mon01 healthy again")


def test_the_rollout_gate_refuses_a_poller_whose_engine_runs_no_checks(pollers: Pollers) -> None:
    play = pollers.deploy("idle01")
    assert play.returncode != 0
    assert "did not become healthy" in play.stdout and "health: unhealthy" in play.stdout, play.stdout[-4000:]
    reason = "engine executes no checks: active host and service checks are disabled"
    assert reason in " ".join(play.stdout.split()), play.stdout[-4000:]
    rc, line = check_container(pollers, "idle01")
    assert rc == 2 and f"running but unhealthy: {reason}" in line, line
