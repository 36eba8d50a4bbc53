"""The Debian twin of the poller image (images/build-twin.sh) deployed through the real role
(deploy_poller.yml) on the test daemon: it fetches a Centreon-generated tree over SSH from the
test sshd at start, runs engine, sshd, postfix and config-push under supervisord, takes what a
Centreon 19.04 central sends (centcore's own scp/ssh command lines, as the user centreon), keeps its
host keys and the engine's state across redeploys and rolls back a broken image.

Network rule: the containers are on an --internal network; the host never sends traffic to a
container address. The fetch reaches the test sshd (127.0.0.1) through a unix socket mounted into
the container (tests/twin.py); the central's commands run in a second container on the same
internal network (a "central" built from the twin image: OpenSSH's ssh and scp as the user
centreon), so they reach the poller's sshd over the network as a central's do.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.centreon_tree import COMMAND_FILE, LIB, generate, services
from tests.helpers import DOCKER_CLI, ROOT, Docker, wait_for
from tests.twin import (
    CENTRAL,
    UnixToSshd,
    central_link,
    fetch_key_vars,
    poller_ssh_dir,
    service_status,
    twin_vars,
)

pytestmark = [
    pytest.mark.docker,
    pytest.mark.registry,
    pytest.mark.ansible,
    pytest.mark.sshd,
    pytest.mark.twin,
    pytest.mark.slow,
]
ANSIBLE = ROOT / "ansible"
POLLER_ID = 7


@dataclass
class Fleet:
    docker: Docker
    tmp: Path
    cache: Path  # plays the central's /var/cache/centreon/config
    central_key: Path
    images: dict[str, str]
    port: int
    hostvars: dict[str, dict[str, object]] = field(default_factory=dict)

    def base(self, host: str) -> Path:
        return self.tmp / host

    def engine(self, host: str) -> str:
        return self.docker.name(f"{host}-engine")

    def deploy(self, image: str, *hosts: str) -> subprocess.CompletedProcess[str]:
        inventory = self.tmp / "inventory.json"
        inventory.write_text(json.dumps({"all": {"children": {"pollers": {"hosts": self.hostvars}}}}))
        return subprocess.run(
            [
                str(Path(sys.executable).parent / "ansible-playbook"),
                "-i",
                str(inventory),
                str(ANSIBLE / "deploy_poller.yml"),
                "--limit",
                ",".join(hosts),
                "-e",
                f"poller_image={self.images[image]}",
            ],
            capture_output=True,
            text=True,
            timeout=400,
            check=False,
            env={**os.environ, "ANSIBLE_CONFIG": str(ANSIBLE / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"},
        )

    def exec(self, host: str, *cmd: str, check: bool = True) -> str:
        return self.docker("exec", self.engine(host), *cmd, check=check)

    def logs(self, host: str) -> str:
        proc = subprocess.run(
            [DOCKER_CLI, "-H", self.docker.host, "logs", self.engine(host)],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return proc.stdout + proc.stderr

    def status(self, host: str, service: str) -> dict[str, str]:
        """The engine's status.dat entry of a service (19.04: /var/log/centreon-engine, a host mount)."""
        return service_status(self.base(host) / "srv" / "log" / "status.dat", "web01", service)


def build(docker: Docker, tag: str, dockerfile: str) -> str:
    """Build TAG from DOCKERFILE, push it; return TAG@DIGEST, as the role deploys an image."""
    proc = subprocess.run(
        [DOCKER_CLI, "-H", docker.host, "build", "--network", "none", "-q", "-t", tag, "-"],
        input=dockerfile,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "DOCKER_BUILDKIT": "0"},
    )
    assert proc.returncode == 0, proc.stderr
    docker("push", tag)
    digests = json.loads(docker("image", "inspect", "-f", "{{json .RepoDigests}}", tag))
    return f"{tag}@{digests[-1].split('@')[1]}"


@pytest.fixture(scope="module")
def fleet(
    docker: Docker, twin_image: str, registry: str, sshd: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Fleet]:
    tmp = tmp_path_factory.mktemp("twin")
    repo = f"{registry}/{docker.prefix.rstrip('-')}/twin"
    images = {
        "v1": build(docker, f"{repo}:19.04.1", f"FROM {twin_image}\nLABEL org.opencontainers.image.version=19.04.1\n"),
        "v2": build(docker, f"{repo}:19.04.5", f"FROM {twin_image}\nLABEL org.opencontainers.image.version=19.04.5\n"),
        # its engine cannot start
        "broken": build(docker, f"{repo}:19.04.6", f"FROM {twin_image}\nRUN ln -sf /bin/false /usr/sbin/centengine\n"),
    }
    cache = tmp / "central-cache"
    # modules=(): nagios4 cannot load Centreon's broker modules (only the production image has them)
    generate(cache, POLLER_ID, host_names=("web01",), service_names=("Ping",), modules=())
    sshd_dir = Path(sshd["PFT_SSHD_DIR"])
    link = tmp / "central-link"  # the unix socket and the ProxyCommand script, mounted in the container
    forwarder = central_link(link, int(sshd["PFT_SSHD_PORT"]))
    central_key = tmp / "central_id"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(central_key)], check=True)
    f = Fleet(docker, tmp, cache, central_key, images, int(sshd["PFT_SSHD_PORT"]))
    # twin02's SSH host key comes from the inventory (the central's known_hosts holds it beforehand)
    host_key = tmp / "twin02_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "twin02", "-f", str(host_key)], check=True)
    for host in ("twin01", "twin02", "twin03"):
        # twin03's central is down at first: its socket is made by the test that needs it
        sock = "sshd-late.sock" if host == "twin03" else "sshd.sock"
        poller_ssh_dir(f.base(host) / "srv" / "ssh", sshd_dir, sock, keys=False)
        f.hostvars[host] = {
            "ansible_connection": "local",
            "ansible_python_interpreter": "{{ ansible_playbook_python }}",
            "ansible_become": False,
            "poller_image_repository": repo,
            "poller_central_pubkeys": [(central_key.with_suffix(".pub")).read_text().strip()],
            "centreon_poller_docker_host": docker.host,
            "centreon_poller_base_dir": str(f.base(host) / "srv"),
            "centreon_poller_network": docker.name("twin-net"),  # one for all: address pools are few here
            "centreon_poller_network_internal": True,
            "centreon_poller_engine_name": f.engine(host),
            "centreon_poller_health_retries": 60,
            "centreon_poller_health_delay": 1,
            **twin_vars(link, cache, POLLER_ID),
            **fetch_key_vars(sshd_dir),  # the fetch key and the central's host key, by the role
        }
    f.hostvars["twin02"]["poller_ssh_host_keys"] = {"ed25519": str(host_key)}
    yield f
    forwarder.close()
    for host in f.hostvars:
        docker("rm", "-f", f.engine(host), check=False)
    docker("network", "rm", docker.name("twin-net"), check=False)


def test_two_pollers_deployed_by_the_role_fetch_their_config_and_turn_healthy(fleet: Fleet) -> None:
    play = fleet.deploy("v1", "twin01", "twin02")
    assert play.returncode == 0, play.stdout[-4000:]
    d = fleet.docker
    for host in ("twin01", "twin02"):
        name = fleet.engine(host)
        assert d.state(name, "{{.State.Health.Status}}") == "healthy"
        programs = dict(line.split()[:2] for line in fleet.exec(host, "supervisorctl", "status").splitlines())
        assert programs == {n: "RUNNING" for n in ("centengine", "sshd", "postfix", "config-push")}
        fleet.exec(host, "test", "-p", "/var/lib/centreon-engine/rw/centengine.cmd")
        assert f"configuration of {host} fetched from {CENTRAL} and verified" in fleet.logs(host)
        current = fleet.base(host) / "srv" / "etc" / "current"
        main = (current / "centengine.cfg").read_text()
        assert "cfg_file=/etc/centreon-engine/current/hosts.cfg" in main  # where the engine reads
        assert (current / "broker" / "poller-module.xml").exists()
        assert d.state(name, "{{.Config.StopTimeout}}") == "75"
    # each poller made its own host keys at its first start
    keys = [
        (fleet.base(h) / "srv" / "ssh-host-keys" / "ssh_host_ed25519_key.pub").read_text() for h in ("twin01", "twin02")
    ]
    assert keys[0] != keys[1]


def test_a_mail_sent_in_the_poller_is_delivered_by_postfix(fleet: Fleet) -> None:
    marker = f"pollerfleet-mail-{os.getpid()}"
    fleet.exec("twin01", "sh", "-c", f"printf 'Subject: {marker}\\n\\nbody\\n' | /usr/sbin/sendmail root")
    wait_for(
        lambda: marker in fleet.exec("twin01", "sh", "-c", "cat /var/mail/root 2>/dev/null || true"),
        30,
        what="the mail in root's mailbox",
    )


# centcore's options on every ssh and scp (centcore.pm:69-70 at 19.04.5), and `scp -O`: a 19.04
# central's OpenSSH 7.4 speaks only the legacy scp protocol, which OpenSSH 9 speaks with -O
CENTCORE_OPTS = (
    " -o ConnectTimeout=5 -o StrictHostKeyChecking=yes -o PreferredAuthentications=publickey"
    " -o ServerAliveInterval=10 -o ServerAliveCountMax=3 -o Compression=yes "
)
SSH = "ssh" + CENTCORE_OPTS
SCP = "scp -O" + CENTCORE_OPTS
GENERATED = "/usr/share/centreon/filesGeneration"


@dataclass
class Central:
    """A Centreon 19.04 central's centcore: its command lines, run by /bin/sh as the user centreon
    in a container on the poller's internal network (centreon::common::misc::backtick execs them
    through the shell). stdout is what centcore captures; stderr goes to centcore's log."""

    docker: Docker
    name: str
    poller: str  # the poller's address (Configuration > Pollers: ns_ip_address)
    generated: Path  # the host directory mounted as filesGeneration
    port: int = 22

    def sh(self, command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [DOCKER_CLI, "-H", self.docker.host, "exec", "-u", "centreon", self.name, "sh", "-c", command],
            capture_output=True,
            text=True,
            timeout=150,
            check=False,
        )

    def export(self, poller_id: int) -> list[subprocess.CompletedProcess[str]]:
        """Export configuration: the engine's files, then the broker's (centcore.pm:648, 695)."""
        return [
            self.sh(f"{SCP} -P {self.port} {GENERATED}/engine/{poller_id}/* {self.poller}:/etc/centreon-engine/ 2>&1"),
            self.sh(f"{SCP} -P {self.port} {GENERATED}/broker/{poller_id}/*.* {self.poller}:/etc/centreon-broker 2>&1"),
        ]

    def service(self, action: str) -> subprocess.CompletedProcess[str]:
        """initEngine (centcore.pm:830): reload, restart, stop, start."""
        return self.sh(f"{SSH} -p {self.port} {self.poller} sudo service centengine {action}")

    def external(self, *lines: str) -> subprocess.CompletedProcess[str]:
        """sendExternalCommand (centcore.pm:505-528): \\ doubled, ' escaped, a newline after each line."""
        cmd = "\n".join(lines).replace("\\", "\\\\").replace("'", "'\\''")
        cmd_line = "".join(line + "\n" for line in cmd.split("\n"))
        return self.sh(f"{SSH} -q {self.poller} -p {self.port} \"echo '{cmd_line}' >> {COMMAND_FILE}\"")

    def broker_stats(self, cache_directory: str, config_name: str, poller_id: int) -> str:
        """getBrokerStats (centcore.pm:228-267): the statistics copied aside, then fetched; the copy."""
        stats = f"{cache_directory}/{config_name}-stats.json"
        r = self.sh(f"{SSH} -q {self.poller} -p {self.port} 'cat \"{stats}\" > /tmp/.centreon-broker-stats.dat'")
        assert (r.returncode, r.stdout, r.stderr) == (0, "", ""), r.stderr
        local = f"/var/lib/centreon/broker-stats/broker-stats-{poller_id}.dat"
        r = self.sh(f"{SCP} -P {self.port} {self.poller}:/tmp/.centreon-broker-stats.dat {local} >> /dev/null")
        assert r.returncode == 0, r.stderr
        return self.sh(f"cat {local}").stdout


@pytest.fixture(scope="module")
def central(fleet: Fleet, twin_image: str) -> Iterator[Central]:
    """The central, set up as Centreon's documentation sets one up: the user centreon's key
    (~centreon/.ssh/id_ed25519, its public half in the role's poller_central_pubkeys) and the poller's
    host key in ~centreon/.ssh/known_hosts (from the same file the role installs it from)."""
    d, poller = fleet.docker, fleet.engine("twin02")
    ssh_dir, generated = fleet.tmp / "central-ssh", fleet.tmp / "filesGeneration"
    ssh_dir.mkdir()
    generated.mkdir()
    shutil.copy(fleet.central_key, ssh_dir / "id_ed25519")
    pub = " ".join((fleet.tmp / "twin02_ed25519.pub").read_text().split()[:2])
    (ssh_dir / "known_hosts").write_text(f"{poller} {pub}\n")
    for path in (ssh_dir, *ssh_dir.iterdir()):
        os.chown(path, 994, 994)  # centreon's fixed ID (images/centreon-engine/setup.sh)
        path.chmod(0o700 if path.is_dir() else 0o600)
    name = d.run(
        "central",
        "--no-healthcheck",
        "--entrypoint",
        "/bin/sleep",
        "-v",
        f"{ssh_dir}:/var/spool/centreon-push/.ssh",  # ~centreon in the twin image
        "-v",
        f"{generated}:{GENERATED}:ro",
        cmd=("infinity",),
        image=twin_image,
        network=d.name("twin-net"),
    )
    d("exec", name, "install", "-d", "-o", "centreon", "/var/lib/centreon/broker-stats")
    yield Central(d, name, poller, generated)
    d("rm", "-f", "-v", name, check=False)


def supervised(fleet: Fleet, host: str) -> list[str]:
    """supervisord's status line of the engine, in words (supervisorctl exits 3 when it is not running)."""
    return fleet.exec(host, "supervisorctl", "status", "centengine", check=False).split()


def engine_pid(fleet: Fleet, host: str) -> str:
    return supervised(fleet, host)[3].rstrip(",")


def test_a_centreon_1904_central_manages_the_poller_with_its_own_commands(fleet: Fleet, central: Central) -> None:
    host = "twin02"
    assert fleet.docker.state(fleet.engine(host), "{{.State.Health.Status}}") == "healthy"
    current = fleet.base(host) / "srv" / "etc" / "current"

    # Export configuration: a new service, copied file by file, then a reload
    generate(central.generated, POLLER_ID, service_names=("Ping", "Exported"), modules=())
    for r in central.export(POLLER_ID):
        assert (r.returncode, r.stdout, r.stderr) == (0, "", ""), r.stdout + r.stderr
    assert "Exported" not in (current / "services.cfg").read_text()  # staged, not running yet
    started = time.monotonic()
    r = central.service("reload")
    assert r.returncode == 0 and r.stderr == "", r.stdout + r.stderr
    assert r.stdout.startswith("applied ") and r.stdout.rstrip().endswith("engine reloaded"), r.stdout
    wait_for(lambda: fleet.status(host, "Exported") != {}, 30, step=0.1, what="the exported service in status.dat")
    print(f"\ncentral's reload -> new configuration running: {time.monotonic() - started:.1f} s")
    assert "Exported" in (current / "services.cfg").read_text()
    assert (current / "broker" / "poller-module.xml").exists()

    # restart: the same configuration (unchanged), a new engine process
    before = engine_pid(fleet, host)
    r = central.service("restart")
    assert (r.returncode, r.stdout, r.stderr) == (0, "configuration unchanged; engine restarted\n", ""), r.stderr
    assert engine_pid(fleet, host) != before
    wait_for(lambda: fleet.status(host, "Exported") != {}, 30, what="the restarted engine's status")

    # a problem, then an acknowledgement (with a quote) and a downtime in one call, as the web UI sends them
    now = int(time.time())
    r = central.external(f"[{now}] PROCESS_SERVICE_CHECK_RESULT;web01;Exported;2;CRITICAL - from the central")
    assert (r.returncode, r.stdout, r.stderr) == (0, "", ""), r.stderr
    wait_for(lambda: fleet.status(host, "Exported").get("current_state") == "2", 30, what="the CRITICAL result")
    r = central.external(
        f"[{now}] ACKNOWLEDGE_SVC_PROBLEM;web01;Exported;2;1;1;admin;it's known, ticket #42",
        f"[{now}] SCHEDULE_SVC_DOWNTIME;web01;Ping;{now};{now + 3600};1;0;3600;admin;maintenance window",
    )
    assert (r.returncode, r.stdout, r.stderr) == (0, "", ""), r.stderr
    wait_for(
        lambda: (
            fleet.status(host, "Exported").get("problem_has_been_acknowledged") == "1"
            and fleet.status(host, "Ping").get("scheduled_downtime_depth") == "1"
        ),
        30,
        what="the acknowledgement and the downtime in the engine's state",
    )
    status_dat = (fleet.base(host) / "srv" / "log" / "status.dat").read_text()
    assert "comment_data=it's known, ticket #42" in status_dat
    assert "\tcomment=maintenance window\n" in status_dat  # the servicedowntime entry

    # broker statistics: the twin has no cbmod, so the test writes its statistics file where
    # 19.04's module writes it (cache_directory/<config_name>-stats.json)
    stats = '{"version": "19.04.0", "poller-module-stats": "test"}'
    fleet.exec(host, "su", "-s", "/bin/sh", "centreon-engine", "-c", f"echo '{stats}' > {LIB}/poller-module-stats.json")
    assert central.broker_stats(LIB, "poller-module", POLLER_ID) == stats + "\n"

    # stop, start: an engine that is stopped takes no external command, and says so
    r = central.service("stop")
    assert (r.returncode, r.stdout, r.stderr) == (0, "engine stopped\n", ""), r.stderr
    assert supervised(fleet, host)[1] == "STOPPED"
    r = central.external(f"[{int(time.time())}] DISABLE_NOTIFICATIONS")
    assert r.returncode == 1 and "poller-push: refused: the engine does not read its command file" in r.stderr
    r = central.service("start")
    assert (r.returncode, r.stdout, r.stderr) == (0, "configuration unchanged; engine running\n", ""), r.stderr
    assert supervised(fleet, host)[1] == "RUNNING"

    # a tree that does not verify: nothing changes, and the reason reaches the central's log (stderr)
    release = os.readlink(current)
    (central.generated / "engine" / str(POLLER_ID) / "services.cfg").write_text(
        services([("web01", "Ping"), ("web01", "Exported")])
        + "define service {\n  host_name nosuchhost\n  service_description Broken\n  check_command check_dummy\n}\n"
    )
    for r in central.export(POLLER_ID):
        assert r.returncode == 0, r.stdout
    r = central.service("reload")
    assert r.returncode == 1 and r.stdout == ""
    refused = "poller-push: REFUSED reload: verification failed (exit 1): Error: Could not find any host"
    assert r.stderr.startswith(refused), r.stderr
    assert "'nosuchhost'" in r.stderr and r.stderr.rstrip().endswith("the running configuration is unchanged")
    assert os.readlink(current) == release
    assert "Broken" not in (current / "services.cfg").read_text()
    assert fleet.status(host, "Exported").get("problem_has_been_acknowledged") == "1"


def test_the_central_account_runs_nothing_else_and_forwards_nothing(fleet: Fleet, central: Central) -> None:
    for command in ("cat /etc/shadow", "sudo service centengine status", "scp -f /etc/shadow"):
        r = central.sh(f"{SSH} -p 22 {central.poller} {command}")
        assert r.returncode == 1, r.stdout
        assert r.stderr.startswith(f"poller-push: refused: '{command}'"), r.stderr
    r = central.sh(f"{SCP} -P 22 {central.poller}:/etc/centreon-engine/current/centengine.cfg /tmp/x")
    assert r.returncode != 0
    assert "poller-push: refused: 'scp -f /etc/centreon-engine/current/centengine.cfg'" in r.stderr
    # no forwarding of any kind (OpenSSH's AllowStreamLocalForwarding is on unless this is)
    effective = fleet.exec("twin02", "sshd", "-T", "-f", "/etc/ssh/sshd_config.poller").splitlines()
    assert "disableforwarding yes" in effective and "allowstreamlocalforwarding no" in effective


def submit(fleet: Fleet, host: str, service: str, state: int, output: str) -> None:
    line = f"[{int(time.time())}] PROCESS_SERVICE_CHECK_RESULT;web01;{service};{state};{output}"
    fleet.exec(host, "sh", "-c", f"printf '%s\\n' '{line}' > /var/lib/centreon-engine/rw/centengine.cmd")


class HostChecks:
    """Watches a host's last_check in status.dat while a redeploy runs: each distinct check time
    the engines wrote, so the widest step between two is the monitoring gap of the redeploy."""

    def __init__(self, status_dat: Path, host: str) -> None:
        self.status_dat, self.host = status_dat, host
        self.seen: set[int] = {self.read()}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def read(self) -> int:
        text = self.status_dat.read_text() if self.status_dat.exists() else ""
        for block in re.findall(r"hoststatus \{\n(.*?)\n\t\}", text, re.S):
            entry = dict(line.strip().split("=", 1) for line in block.splitlines() if "=" in line)
            if entry.get("host_name") == self.host:
                return int(entry.get("last_check", "0"))
        return 0

    def _watch(self) -> None:
        while not self._stop.wait(0.2):
            with contextlib.suppress(OSError, ValueError):
                self.seen.add(self.read())

    def gap(self) -> int:
        times = sorted(t for t in self.seen if t)
        return max((b - a for a, b in zip(times, times[1:])), default=0)

    def __enter__(self) -> HostChecks:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def test_the_engine_state_and_host_keys_survive_a_redeploy(fleet: Fleet) -> None:
    marker = f"CRITICAL - retained {os.getpid()}"
    submit(fleet, "twin01", "Ping", 2, marker)
    wait_for(lambda: fleet.status("twin01", "Ping").get("plugin_output") == marker, 30, what="the passive result")
    keys = (fleet.base("twin01") / "srv" / "ssh-host-keys").glob("*")
    before = {p.name: p.read_bytes() for p in keys}
    old_id = fleet.docker.state(fleet.engine("twin01"), "{{.Id}}")

    status_dat = fleet.base("twin01") / "srv" / "log" / "status.dat"
    with HostChecks(status_dat, "web01") as checks:  # web01's active check runs every 2 s
        play = fleet.deploy("v2", "twin01")
        assert play.returncode == 0, play.stdout[-4000:]
        assert fleet.docker.state(fleet.engine("twin01"), "{{.Id}}") != old_id
        # the new engine runs checks again: a check time later than any the old engine wrote
        last_old = max(checks.seen)
        wait_for(lambda: max(checks.seen) > last_old, 60, what="a check by the new engine")
    print(f"\nmonitoring gap of one redeploy (old engine's last check -> new engine's first): {checks.gap()} s")
    # the old engine wrote retention.dat when it was stopped (its periodic write is an hour away)
    retention = (fleet.base("twin01") / "srv" / "log" / "retention.dat").read_text()  # where 19.04 puts it
    assert marker in retention
    log = (fleet.base("twin01") / "srv" / "log" / "centengine.log").read_text()
    assert "Caught SIGTERM, shutting down" in log and "Successfully shutdown" in log
    # the new engine read it: the service is in that state, not PENDING
    wait_for(lambda: fleet.status("twin01", "Ping").get("plugin_output") == marker, 30, what="the retained state")
    ping = fleet.status("twin01", "Ping")
    assert ping["current_state"] == "2" and ping["has_been_checked"] == "1"
    after = {p.name: p.read_bytes() for p in (fleet.base("twin01") / "srv" / "ssh-host-keys").glob("*")}
    assert after == before  # the same identity


def test_a_broken_image_rolls_back_to_the_previous_image_and_the_state_is_kept(fleet: Fleet) -> None:
    d = fleet.docker
    previous = d("image", "inspect", "-f", "{{.Id}}", fleet.images["v2"].split("@")[0])
    play = fleet.deploy("broken", "twin01")
    assert play.returncode != 0
    assert "did not become healthy" in play.stdout, play.stdout[-4000:]
    assert d.state(fleet.engine("twin01"), "{{.Image}}") == previous
    wait_for(lambda: d.state(fleet.engine("twin01"), "{{.State.Health.Status}}") == "healthy", 60, what="healthy again")
    ping = fleet.status("twin01", "Ping")
    assert ping["current_state"] == "2" and ping["plugin_output"].startswith("CRITICAL - retained")


def test_a_poller_that_never_had_a_configuration_says_why_and_starts_when_the_central_answers(fleet: Fleet) -> None:
    play = fleet.deploy("v1", "twin03")
    assert play.returncode != 0 and "health: unhealthy" in play.stdout, play.stdout[-3000:]
    d, name = fleet.docker, fleet.engine("twin03")
    assert d.state(name) == "running"  # waiting, not exiting in a restart loop
    health = json.loads(d.state(name, "{{json .State.Health.Log}}"))[-1]["Output"]
    assert health.startswith("no engine configuration yet: fetching failed: rsync failed with exit code"), health
    assert "proxy: cannot reach the central through /run/central/sshd-late.sock" in health
    late = UnixToSshd(fleet.tmp / "central-link" / "sshd-late.sock", fleet.port)
    try:
        wait_for(lambda: d.state(name, "{{.State.Health.Status}}") == "healthy", 90, what="twin03 healthy")
    finally:
        late.close()
    assert "configuration of twin03 fetched from central.test and verified" in fleet.logs("twin03")
