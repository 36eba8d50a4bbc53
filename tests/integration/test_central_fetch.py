"""The central's read-only fetch account (#28), for real: ansible/central.yml run against this
machine (connection local) creates a throwaway account (pft-fetch-<pid>, removed afterwards), its
authorized_keys, the ACL and the forced command; the suite's sshd serves it on 127.0.0.1, and the
poller image's own fetch client fetches through it. Then every refusal the key line promises.

Two loopback addresses play two poller hosts: poller01's key is accepted from 127.0.0.1 only,
poller02's from 127.0.0.2 only (ssh -o BindAddress picks the source address)."""

from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.centreon_tree import generate
from tests.helpers import ROOT, wait_for

pytestmark = [pytest.mark.sshd, pytest.mark.ansible]
ANSIBLE = ROOT / "ansible"
CLIENT = ROOT / "images" / "centreon-engine" / "fetch_config.py"
CLIENT_PYTHON = os.environ.get("PFT_IMAGE_PYTHON") or sys.executable  # make test-py36: the image's 3.6
BIN = Path(sys.executable).parent


@dataclass
class Central:
    user: str
    root: Path  # everything of this test: generated tree, keys, the pollers' ssh dirs, the inventory
    gen: Path  # plays /usr/share/centreon/filesGeneration
    port: str
    known_hosts: str  # the central's host key line, as sshd.sh made it

    def keys(self, poller: str) -> Path:
        return self.root / "keys" / poller

    def ssh_dir(self, poller: str) -> Path:
        return self.root / poller / "ssh"

    def authorized_keys(self) -> Path:
        return self.root / "home" / ".ssh" / "authorized_keys"


def keygen(path: Path) -> None:
    path.unlink(missing_ok=True)
    Path(f"{path}.pub").unlink(missing_ok=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f", str(path)], check=True)


def playbook(c: Central, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", str(c.root / "inventory.yml"), str(ANSIBLE / "central.yml"), *extra],
        cwd=ANSIBLE,
        env={
            **os.environ,
            "ANSIBLE_CONFIG": str(ANSIBLE / "ansible.cfg"),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_LOCALHOST_WARNING": "0",
        },
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def write_inventory(c: Central) -> None:
    host_key = " ".join(c.known_hosts.split()[1:3])

    def poller(name: str, poller_id: int, source: str) -> dict[str, object]:
        return {
            "poller_id": poller_id,
            "poller_fetch_from": source,
            "poller_fetch_pubkey": "{{ lookup('file', '" + str(c.keys(name)) + ".pub') }}",
            "poller_fetch_key": "{{ lookup('file', '" + str(c.keys(name)) + "') }}",
            "centreon_poller_ssh_dir": str(c.ssh_dir(name)),
        }

    inventory = {
        "all": {
            "vars": {
                "ansible_connection": "local",
                "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                "poller_fetch_user": c.user,
                "poller_central_generation_dir": str(c.gen),
                "poller_central_host": "127.0.0.1",
                "poller_central_port": int(c.port),
                "poller_central_host_keys": [host_key],
            },
            "children": {
                "centreon_central": {
                    "hosts": {"central": None},
                    "vars": {
                        "centreon_central_fetch_home": str(c.root / "home"),
                        "centreon_central_fetch_command": str(c.root / "bin" / "pollerfleet-fetch-serve"),
                        "centreon_central_fetch_packages": [],  # installed here already; apt is not ours
                    },
                },
                "pollers": {
                    "hosts": {
                        "poller01": poller("poller01", 7, "127.0.0.1"),
                        "poller02": poller("poller02", 8, "127.0.0.2"),
                        "poller03": {"poller_id": 9},  # no key yet: no line, no failure
                    }
                },
            },
        }
    }
    (c.root / "inventory.yml").write_text(yaml.safe_dump(inventory))


@pytest.fixture(scope="module")
def central(sshd: dict[str, str]) -> Iterator[Central]:
    user = f"pft-fetch-{os.getpid()}"
    root = Path(tempfile.mkdtemp(prefix="pft-central-fetch-", dir="/tmp"))
    root.chmod(0o755)  # the account walks through it to its home and the generated tree
    gen = root / "filesGeneration"
    for poller_id in (7, 8):
        generate(gen, poller_id)
    # only the ACL the role sets lets the account in: nothing is readable by others
    for path in [gen, *gen.rglob("*")]:
        path.chmod(0o750 if path.is_dir() else 0o640)
    (root / "keys").mkdir()
    for name in ("poller01", "poller02"):
        keygen(root / "keys" / name)
    known = (Path(sshd["PFT_SSHD_DIR"]) / "known_hosts").read_text().strip()
    c = Central(user, root, gen, sshd["PFT_SSHD_PORT"], known)
    write_inventory(c)
    try:
        yield c
    finally:
        subprocess.run(["userdel", user], capture_output=True, check=False)
        subprocess.run(["groupdel", user], capture_output=True, check=False)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def deployed(central: Central) -> Central:
    dry = playbook(central, "--check")  # what an operator runs first on a central without the account
    assert dry.returncode == 0, dry.stdout[-3000:] + dry.stderr[-2000:]
    assert not central.authorized_keys().exists()
    with pytest.raises(KeyError):
        pwd.getpwnam(central.user)
    r = playbook(central)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    return central


def ssh_argv(c: Central, key: Path, source: str = "127.0.0.1") -> list[str]:
    return [
        "ssh",
        "-p",
        c.port,
        "-i",
        str(key),
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        f"UserKnownHostsFile={c.ssh_dir('poller01') / 'known_hosts'}",
        "-o",
        f"BindAddress={source}",
        "-o",
        "ConnectTimeout=10",
    ]


def ssh(c: Central, key: Path, *args: str, source: str = "127.0.0.1") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ssh_argv(c, key, source), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def fetch(c: Central, poller: str, poller_id: int, source: str = "127.0.0.1", **extra: str) -> tuple[int, str, Path]:
    """The poller image's fetch client with the key and known_hosts the role installed."""
    ssh_config = c.root / f"ssh_config-{source}"
    ssh_config.write_text(f"Host *\n  BindAddress {source}\n")
    cfg = Path(tempfile.mkdtemp(dir=c.root, prefix=f"etc-{poller}-"))
    env = {
        "PATH": os.environ["PATH"],
        "CENTRAL_HOST": "127.0.0.1",
        "CENTRAL_PORT": c.port,
        "CENTRAL_USER": c.user,
        "POLLER_NAME": poller,
        "POLLER_ID": str(poller_id),
        "REMOTE_BASE_DIR": str(c.gen),  # the one setting: the rest is the client's 19.04 layout
        "SSH_KEY": str(c.ssh_dir(poller) / "id_ed25519"),
        "KNOWN_HOSTS": str(c.ssh_dir(poller) / "known_hosts"),
        "SSH_CONFIG": str(ssh_config),
        "CONFIG_DIR": str(cfg),
        "VERIFY_COMMAND": "test -s {config}/centengine.cfg",
        "FETCH_ATTEMPTS": "1",
        "FETCH_TIMEOUT": "20",
        **extra,
    }
    proc = subprocess.run(
        [CLIENT_PYTHON, str(CLIENT)], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    return proc.returncode, proc.stderr, cfg


def files(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def generated(c: Central, poller_id: int) -> dict[str, bytes]:
    engine = {k: v for k, v in files(c.gen / "engine" / str(poller_id)).items() if k != "centengine.cfg"}
    return {**engine, **{f"broker/{k}": v for k, v in files(c.gen / "broker" / str(poller_id)).items()}}


def test_the_playbook_writes_one_restricted_line_per_poller_and_a_second_run_changes_nothing(
    deployed: Central,
) -> None:
    c = deployed
    lines = [line for line in c.authorized_keys().read_text().splitlines() if line and not line.startswith("#")]
    command = f"{c.root}/bin/pollerfleet-fetch-serve {c.gen}"
    pub1 = " ".join(Path(f"{c.keys('poller01')}.pub").read_text().split()[:2])
    assert lines == [
        f'restrict,from="127.0.0.1",command="{command} 7" {pub1} poller01',
        f'restrict,from="127.0.0.2",command="{command} 8" '
        + " ".join(Path(f"{c.keys('poller02')}.pub").read_text().split()[:2])
        + " poller02",
    ]
    st = c.authorized_keys().stat()
    assert (st.st_uid, st.st_mode & 0o777) == (0, 0o644)  # root's file: the account cannot edit it
    account = pwd.getpwnam(c.user)
    assert account.pw_shell == "/bin/sh" and account.pw_dir == str(c.root / "home")
    acl = subprocess.run(["getfacl", "-p", str(c.gen / "engine" / "7" / "hosts.cfg")], capture_output=True, text=True)
    assert f"user:{c.user}:r--" in acl.stdout
    # the poller hosts got their keys and the central's host key
    assert (c.ssh_dir("poller01") / "id_ed25519").read_text() == c.keys("poller01").read_text()
    assert (c.ssh_dir("poller01") / "known_hosts").read_text() == c.known_hosts + "\n"
    again = playbook(c)
    assert again.returncode == 0, again.stdout[-3000:]
    recap = again.stdout[again.stdout.rindex("PLAY RECAP") :]
    assert re.findall(r"changed=(\d+)", recap) == ["0"] * 4, recap


def test_each_poller_fetches_its_own_configuration_through_the_restricted_account(deployed: Central) -> None:
    rc, err, cfg = fetch(deployed, "poller01", 7)
    assert rc == 0, err
    assert "configuration of poller01 fetched from 127.0.0.1 and verified" in err
    assert files(cfg / "current").keys() - {"centengine.cfg"} == generated(deployed, 7).keys()
    assert {k: v for k, v in files(cfg / "current").items() if k != "centengine.cfg"} == generated(deployed, 7)
    rc, err, cfg = fetch(deployed, "poller02", 8, source="127.0.0.2")
    assert rc == 0, err
    assert {k: v for k, v in files(cfg / "current").items() if k != "centengine.cfg"} == generated(deployed, 8)


def test_the_key_opens_no_shell(deployed: Central) -> None:
    r = ssh(deployed, deployed.keys("poller01"), f"{deployed.user}@127.0.0.1")
    assert r.returncode == 1
    assert "pollerfleet-fetch-serve: refused: this key only fetches poller 7's configuration with rsync: no shell" in (
        r.stderr
    )


def test_the_key_runs_no_command(deployed: Central) -> None:
    marker = deployed.root / "ran"
    r = ssh(deployed, deployed.keys("poller01"), f"{deployed.user}@127.0.0.1", f"touch {marker}; id")
    assert r.returncode == 1
    assert "refused: this key only fetches poller 7's configuration with rsync, not 'touch'" in r.stderr
    assert not marker.exists() and "uid=" not in r.stdout
    # nor the sftp subsystem, nor a shell hidden behind rsync's name
    r = ssh(deployed, deployed.keys("poller01"), "-s", f"{deployed.user}@127.0.0.1", "sftp")
    # (sshd drops a subsystem's stderr; sftp-server would have ended with 0 on end of input)
    assert (r.returncode, r.stdout) == (1, "")
    r = ssh(
        deployed,
        deployed.keys("poller01"),
        f"{deployed.user}@127.0.0.1",
        f"rsync --server --sender -e.x . /;touch {marker}",
    )
    assert r.returncode == 1 and not marker.exists()


@pytest.mark.parametrize(
    ("how", "message"),
    [
        (["-W", "127.0.0.1:{port}"], "administratively prohibited"),
        (["-N", "-o", "ExitOnForwardFailure=yes", "-R", "0:127.0.0.1:{port}"], "remote port forwarding failed"),
    ],
)
def test_the_key_forwards_no_port(deployed: Central, how: list[str], message: str) -> None:
    args = [a.replace("{port}", deployed.port) for a in how]
    r = ssh(deployed, deployed.keys("poller01"), *args, f"{deployed.user}@127.0.0.1")
    assert r.returncode == 255, r.stderr
    assert message in r.stderr


def test_the_key_reads_no_other_pollers_configuration(deployed: Central) -> None:
    # poller01's key asking for poller 8's directories (its client thinks it is poller 8)
    rc, err, cfg = fetch(deployed, "poller01", 8)
    assert rc == 2
    assert f"the central refused: '{deployed.gen}/engine/8/' is not poller 7's configuration" in err
    assert not (cfg / "current").exists()
    user = f"{deployed.user}@127.0.0.1:"
    for path in (
        f"{deployed.gen}/engine/",
        f"{deployed.gen}/engine/7/../8/",
        "/etc/",
        f"{deployed.gen}/engine/7/hosts.cfg",
    ):
        r = subprocess.run(
            ["rsync", "-r", "-e", " ".join(ssh_argv(deployed, deployed.keys("poller01"))), user + path, str(cfg / "x")],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert r.returncode != 0 and "is not poller 7's configuration" in r.stderr, (path, r.stderr)


def test_the_key_writes_nothing(deployed: Central) -> None:
    engine = deployed.gen / "engine" / "7"
    before = files(engine)
    upload = deployed.root / "upload"
    upload.mkdir(exist_ok=True)
    (upload / "hosts.cfg").write_text("define host {\n}\n")
    e = " ".join(ssh_argv(deployed, deployed.keys("poller01")))
    user = f"{deployed.user}@127.0.0.1:"
    r = subprocess.run(
        ["rsync", "-r", "-e", e, f"{upload}/", f"{user}{engine}/"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert r.returncode != 0
    assert "refused: read-only: this key can only download (rsync --server --sender), never upload" in r.stderr
    # a download that would delete what it sent, or write a log file on the central
    for option in ("--remove-source-files", f"--remote-option=--log-file={deployed.root}/log", "--copy-links"):
        r = subprocess.run(
            ["rsync", "-r", option, "-e", e, f"{user}{engine}/", str(deployed.root / "down")],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert r.returncode != 0 and "is not allowed here (read-only fetch)" in r.stderr, (option, r.stderr)
    assert files(engine) == before
    assert not (deployed.root / "log").exists()


def test_the_key_is_refused_from_another_address(deployed: Central) -> None:
    rc, err, _ = fetch(deployed, "poller01", 7, source="127.0.0.2")
    assert rc == 2
    assert "the central refused this poller's key (not in the fetch account's authorized_keys" in err
    r = ssh(deployed, deployed.keys("poller02"), f"{deployed.user}@127.0.0.1", source="127.0.0.1")
    assert r.returncode == 255 and "Permission denied (publickey)" in r.stderr


def test_rotating_a_key_is_one_playbook_run(deployed: Central) -> None:
    c = deployed
    old = c.root / "old_poller01"
    shutil.copy(c.keys("poller01"), old)
    poller02_line = [line for line in c.authorized_keys().read_text().splitlines() if line.endswith(" poller02")]
    keygen(c.keys("poller01"))
    r = playbook(c, "--limit", "central,poller01")
    assert r.returncode == 0, r.stdout[-3000:]
    assert (c.ssh_dir("poller01") / "id_ed25519").read_text() == c.keys("poller01").read_text()
    rc, err, _ = fetch(c, "poller01", 7)
    assert rc == 0, err
    r = ssh(c, old, f"{c.user}@127.0.0.1")
    assert r.returncode == 255 and "Permission denied (publickey)" in r.stderr  # the old key opens nothing
    assert [
        line for line in c.authorized_keys().read_text().splitlines() if line.endswith(" poller02")
    ] == poller02_line


@pytest.fixture
def strict_sshd(deployed: Central, sshd: dict[str, str]) -> Iterator[tuple[str, Path]]:
    """An sshd as a central runs it: StrictModes yes and the user's own ~/.ssh/authorized_keys (the
    suite's sshd has StrictModes off for its keys under /tmp). Port and known_hosts of it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    d = deployed.root / "strict-sshd"
    d.mkdir(exist_ok=True)
    host_key = Path(sshd["PFT_SSHD_DIR"]) / "host_ed25519"
    (d / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {host_key}\nPidFile {d}/sshd.pid\nUsePAM no\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nStrictModes yes\n"
        "AuthorizedKeysFile .ssh/authorized_keys\nLogLevel VERBOSE\n"
    )
    (d / "known_hosts").write_text(f"[127.0.0.1]:{port} " + " ".join(Path(f"{host_key}.pub").read_text().split()[:2]))
    daemon = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(d / "sshd_config")], stderr=subprocess.PIPE)

    def up() -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", int(port))) == 0

    try:
        wait_for(up, 10, what="the strict sshd")
        yield port, d / "known_hosts"
    finally:
        daemon.terminate()
        daemon.communicate(timeout=10)


def test_the_roles_files_pass_sshds_strict_modes(deployed: Central, strict_sshd: tuple[str, Path]) -> None:
    port, known = strict_sshd
    rc, err, cfg = fetch(deployed, "poller01", 7, CENTRAL_PORT=port, KNOWN_HOSTS=str(known))
    assert rc == 0, err
    assert {k: v for k, v in files(cfg / "current").items() if k != "centengine.cfg"} == generated(deployed, 7)
