"""The twin poller's link to the central in tests: the test sshd on 127.0.0.1 plays the central,
and a container on an --internal network cannot reach 127.0.0.1 of the host (nor may the host send
traffic to a container). So the central is reached through a unix socket mounted into the
container: ssh's ProxyCommand (PROXY, run by the container's python3) connects to it, and
UnixToSshd, in the test process, forwards each connection to the test sshd."""

from __future__ import annotations

import re
import shutil
import socket
import threading
from pathlib import Path

CENTRAL = "central.test"
LINK_MOUNT = "/run/central"

# ssh's ProxyCommand inside the container: stdin/stdout <-> the mounted unix socket
PROXY = """import os, socket, sys, threading
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
except OSError as exc:
    sys.exit(f"proxy: cannot reach the central through {sys.argv[1]}: {exc.strerror}")
def up():
    while True:
        data = os.read(0, 65536)
        if not data:
            s.shutdown(socket.SHUT_WR)
            return
        s.sendall(data)
threading.Thread(target=up, daemon=True).start()
while True:
    data = s.recv(65536)
    if not data:
        break
    os.write(1, data)
"""


class UnixToSshd:
    """Forwards connections on a unix socket to the test sshd on 127.0.0.1."""

    def __init__(self, path: Path, port: int) -> None:
        self.path, self.port = path, port
        self.server = socket.socket(socket.AF_UNIX)
        self.server.bind(str(path))
        self.server.listen(16)
        self.stop = threading.Event()
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self) -> None:
        self.server.settimeout(0.2)
        while not self.stop.is_set():
            try:
                client = self.server.accept()[0]
            except OSError:
                continue
            upstream = socket.create_connection(("127.0.0.1", self.port))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self.pump, args=(a, b), daemon=True).start()

    @staticmethod
    def pump(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
            b.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self) -> None:
        self.stop.set()
        self.server.close()


def central_link(directory: Path, sshd_port: int) -> UnixToSshd:
    """DIRECTORY gets proxy.py and sshd.sock (mount it at LINK_MOUNT); the forwarder serves it."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "proxy.py").write_text(PROXY)
    return UnixToSshd(directory / "sshd.sock", sshd_port)


def poller_ssh_dir(ssh: Path, sshd_dir: Path, sock: str = "sshd.sock", keys: bool = True) -> None:
    """The role's centreon_poller_ssh_dir of a twin poller: the ssh_config that goes through the
    mounted socket SOCK (the test's transport) and, with KEYS, the key it fetches with and the
    central's host key (without: the role installs them from fetch_key_vars)."""
    ssh.mkdir(parents=True, exist_ok=True)
    if keys:
        shutil.copy(sshd_dir / "id_ed25519", ssh / "id_ed25519")
        host_key = " ".join((sshd_dir / "host_ed25519.pub").read_text().split()[:2])
        (ssh / "known_hosts").write_text(f"{CENTRAL} {host_key}\n")
    proxy = f"/usr/bin/python3 {LINK_MOUNT}/proxy.py {LINK_MOUNT}/{sock}"
    (ssh / "ssh_config").write_text(f"Host *\n  ProxyCommand {proxy}\n")


def fetch_key_vars(sshd_dir: Path) -> dict[str, object]:
    """Inventory variables that make the role install the fetch key and the central's host key
    (tasks/fetch_key.yml): the test sshd's key and host key play the central's."""
    return {
        "poller_fetch_key": (sshd_dir / "id_ed25519").read_text(),
        "poller_central_host_keys": [(sshd_dir / "host_ed25519.pub").read_text().strip()],
    }


def twin_vars(link: Path, cache: Path, poller_id: int) -> dict[str, object]:
    """Role variables of a twin poller that fetches CACHE/engine/<id>/ (and broker/) from the
    test sshd through LINK, on the test's clock."""
    return {
        "poller_central_host": CENTRAL,
        "poller_id": poller_id,
        "centreon_poller_sshd_port": "",  # nothing listens beyond loopback
        "centreon_poller_extra_volumes": [f"{link}:{LINK_MOUNT}:ro"],
        "centreon_poller_extra_env": {
            "CENTRAL_USER": "root",  # the test sshd's user
            "REMOTE_CONFIG_DIR": f"{cache}/engine/{{poller_id}}",
            "REMOTE_BROKER_DIR": f"{cache}/broker/{{poller_id}}",
            "SSH_CONFIG": "/etc/pollerfleet/ssh/ssh_config",
            "FETCH_ATTEMPTS": "2",
            "FETCH_BACKOFF": "1",
            "FETCH_RETRY_INTERVAL": "2",
        },
        # the image's HEALTHCHECK, on a test's clock
        # (15 failures before unhealthy: the fetch and supervisord's startsecs take a while on a loaded machine)
        "centreon_poller_healthcheck": {"interval": "1s", "start_period": "10s", "retries": 15},
    }


def service_status(status_dat: Path, host: str, service: str) -> dict[str, str]:
    """A service's entry in the engine's status.dat (on the poller's retention mount); {} if none."""
    text = status_dat.read_text() if status_dat.exists() else ""
    for block in re.findall(r"servicestatus \{\n(.*?)\n\t\}", text, re.S):
        entry = dict(line.strip().split("=", 1) for line in block.splitlines() if "=" in line)
        if entry.get("host_name") == host and entry.get("service_description") == service:
            return entry
    return {}
