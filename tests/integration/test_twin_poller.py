"""The Debian twin of the poller image (images/build-twin.sh) deployed through the real role
(deploy_poller.yml) on the test daemon: it fetches a Centreon-generated tree over SSH from the
test sshd at start, runs engine, sshd, postfix and config-push under supervisord, takes the central's
pushes, keeps its host keys and the engine's state across redeploys and rolls back a broken image.

Network rule: the containers are on an --internal network; the host never sends traffic to a
container address. The fetch reaches the test sshd (127.0.0.1) through a unix socket mounted into
the container (tests/twin.py); pushes run inside the container (docker exec)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.centreon_tree import generate, services
from tests.helpers import DOCKER_CLI, ROOT, Docker, wait_for
from tests.twin import CENTRAL, UnixToSshd, central_link, poller_ssh_dir, service_status, twin_vars

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
        """The engine's status.dat entry of a service (on the retention host mount)."""
        return service_status(self.base(host) / "srv" / "retention" / "status.dat", "web01", service)


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
    generate(cache, POLLER_ID, host_names=("web01",), service_names=("Ping",))
    sshd_dir = Path(sshd["PFT_SSHD_DIR"])
    link = tmp / "central-link"  # the unix socket and the ProxyCommand script, mounted in the container
    forwarder = central_link(link, int(sshd["PFT_SSHD_PORT"]))
    central_key = tmp / "central_id"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(central_key)], check=True)
    f = Fleet(docker, tmp, cache, central_key, images, int(sshd["PFT_SSHD_PORT"]))
    for host in ("twin01", "twin02", "twin03"):
        # twin03's central is down at first: its socket is made by the test that needs it
        poller_ssh_dir(f.base(host) / "srv" / "ssh", sshd_dir, "sshd-late.sock" if host == "twin03" else "sshd.sock")
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
        }
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
        assert (current / "broker" / "poller-module.json").exists()
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


def push(fleet: Fleet, host: str, tree: Path) -> subprocess.CompletedProcess[str]:
    """What the central does: rsync the generated engine tree as `centreon`, then `reload`. Run
    from inside the container (its sshd on 127.0.0.1): the host sends nothing to a container."""
    name = fleet.engine(host)
    pub = (fleet.base(host) / "srv" / "ssh-host-keys" / "ssh_host_ed25519_key.pub").read_text().split()
    fleet.exec(host, "rm", "-rf", "/root/central")
    fleet.docker("cp", str(tree), f"{name}:/root/central")
    fleet.docker("cp", str(fleet.central_key), f"{name}:/root/central_id")
    fleet.exec(host, "sh", "-c", f"echo '127.0.0.1 {pub[0]} {pub[1]}' > /root/known_hosts; chmod 600 /root/central_id")
    ssh = (
        "ssh -i /root/central_id -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=/root/known_hosts"
    )
    script = (
        f'rsync -rlt --delete -e "{ssh}" /root/central/ centreon@127.0.0.1:engine/ && {ssh} centreon@127.0.0.1 reload'
    )
    return subprocess.run(
        [DOCKER_CLI, "-H", fleet.docker.host, "exec", name, "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_push_as_centreon_lands_where_the_engine_reads_and_reloads_it(fleet: Fleet) -> None:
    tree = fleet.tmp / "push"
    shutil.copytree(fleet.cache / "engine" / str(POLLER_ID), tree)
    (tree / "services.cfg").write_text(services([("web01", "Ping"), ("web01", "Pushed")]))
    r = push(fleet, "twin01", tree)
    assert r.returncode == 0 and r.stdout.startswith("OK applied "), r.stdout + r.stderr
    assert "reloaded" in r.stdout
    wait_for(lambda: fleet.status("twin01", "Pushed") != {}, 30, what="the pushed service in status.dat")
    # a push that does not verify changes nothing, and says why
    current = os.readlink(fleet.base("twin01") / "srv" / "etc" / "current")
    (tree / "services.cfg").write_text("define service {\n  host_name nosuchhost\n}\n")
    r = push(fleet, "twin01", tree)
    assert r.returncode != 0 and r.stdout.startswith("REFUSED verification failed"), r.stdout + r.stderr
    assert os.readlink(fleet.base("twin01") / "srv" / "etc" / "current") == current
    # the account does nothing else
    ssh = "ssh -i /root/central_id -o BatchMode=yes -o UserKnownHostsFile=/root/known_hosts centreon@127.0.0.1"
    r = subprocess.run(
        [DOCKER_CLI, "-H", fleet.docker.host, "exec", fleet.engine("twin01"), "sh", "-c", f"{ssh} cat /etc/shadow"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert r.returncode != 0 and "poller-push: refused: 'cat'" in r.stderr


def submit(fleet: Fleet, host: str, service: str, state: int, output: str) -> None:
    line = f"[{int(time.time())}] PROCESS_SERVICE_CHECK_RESULT;web01;{service};{state};{output}"
    fleet.exec(host, "sh", "-c", f"printf '%s\\n' '{line}' > /var/lib/centreon-engine/rw/centengine.cmd")


def test_the_engine_state_and_host_keys_survive_a_redeploy(fleet: Fleet) -> None:
    marker = f"CRITICAL - retained {os.getpid()}"
    submit(fleet, "twin01", "Ping", 2, marker)
    wait_for(lambda: fleet.status("twin01", "Ping").get("plugin_output") == marker, 30, what="the passive result")
    keys = (fleet.base("twin01") / "srv" / "ssh-host-keys").glob("*")
    before = {p.name: p.read_bytes() for p in keys}
    old_id = fleet.docker.state(fleet.engine("twin01"), "{{.Id}}")

    play = fleet.deploy("v2", "twin01")
    assert play.returncode == 0, play.stdout[-4000:]
    assert fleet.docker.state(fleet.engine("twin01"), "{{.Id}}") != old_id
    # the old engine wrote retention.dat when it was stopped (its periodic write is an hour away)
    retention = (fleet.base("twin01") / "srv" / "retention" / "retention.dat").read_text()
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
