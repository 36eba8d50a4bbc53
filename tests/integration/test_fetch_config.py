"""The poller image's config fetch client against a real sshd on 127.0.0.1 with real rsync/ssh."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.centreon_tree import ENGINE_PATH, generate
from tests.helpers import ROOT, wait_for

pytestmark = pytest.mark.sshd
CLIENT = ROOT / "images" / "centreon-engine" / "fetch_config.py"
# The client runs with the CentOS 7 image's python3 (3.6): `make test-py36` names such an interpreter here.
CLIENT_PYTHON = os.environ.get("PFT_IMAGE_PYTHON") or sys.executable


def run(sshd: dict[str, str], config_dir: Path, remote: Path, key: str = "id_ed25519", **extra: str) -> tuple[int, str]:
    d = Path(sshd["PFT_SSHD_DIR"])
    env = {
        "PATH": os.environ["PATH"],
        "CENTRAL_HOST": "127.0.0.1",
        "CENTRAL_PORT": sshd["PFT_SSHD_PORT"],
        "CENTRAL_USER": "root",
        "POLLER_NAME": "poller01",
        "POLLER_ID": "7",
        "REMOTE_CONFIG_DIR": str(remote) + "/engine/{poller_id}",
        "REMOTE_BROKER_DIR": str(remote) + "/broker/{poller_id}",
        "SSH_KEY": str(d / key),
        "KNOWN_HOSTS": str(d / "known_hosts"),
        "CONFIG_DIR": str(config_dir),
        "VERIFY_COMMAND": "test -s {config}/centengine.cfg",
        "FETCH_ATTEMPTS": "2",
        "FETCH_BACKOFF": "0.1",
        "FETCH_TIMEOUT": "20",
        **extra,
    }
    proc = subprocess.run(
        [CLIENT_PYTHON, str(CLIENT)], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    return proc.returncode, proc.stderr


def run_with(sshd: dict[str, str], config_dir: Path, **extra: str) -> tuple[int, str]:
    """run() without the test's REMOTE_CONFIG_DIR/REMOTE_BROKER_DIR: the client's own defaults."""
    d = Path(sshd["PFT_SSHD_DIR"])
    env = {
        "PATH": os.environ["PATH"],
        "CENTRAL_HOST": "127.0.0.1",
        "CENTRAL_PORT": sshd["PFT_SSHD_PORT"],
        "CENTRAL_USER": "root",
        "POLLER_NAME": "poller01",
        "POLLER_ID": "7",
        "SSH_KEY": str(d / "id_ed25519"),
        "KNOWN_HOSTS": str(d / "known_hosts"),
        "CONFIG_DIR": str(config_dir),
        "VERIFY_COMMAND": "test -s {config}/centengine.cfg",
        "FETCH_BACKOFF": "0.1",
        "FETCH_TIMEOUT": "20",
        **extra,
    }
    proc = subprocess.run(
        [CLIENT_PYTHON, str(CLIENT)], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    return proc.returncode, proc.stderr


@pytest.fixture
def central(tmp_path: Path) -> Path:
    """The central's generated tree for poller id 7 (plays /usr/share/centreon/filesGeneration)."""
    remote = tmp_path / "central"
    (tmp_path / "var" / "rw").mkdir(parents=True)
    generate(remote, 7, var=str(tmp_path / "var"), log=str(tmp_path / "var"), user="root")
    return remote


def tree(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def fetched(cfg: Path) -> dict[str, bytes]:
    """What the central sent, as it sent it: the main file aside (its paths are rewritten)."""
    return {k: v for k, v in tree(cfg / "current").items() if k != "centengine.cfg"}


def sent(central: Path) -> dict[str, bytes]:
    engine = {k: v for k, v in tree(central / "engine" / "7").items() if k != "centengine.cfg"}
    return {**engine, **{f"broker/{k}": v for k, v in tree(central / "broker" / "7").items()}}


def test_fetch_verify_swap(sshd: dict[str, str], central: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "etc"
    rc, err = run(sshd, cfg, central)
    assert rc == 0, err
    assert "configuration of poller01 fetched from 127.0.0.1 and verified" in err
    assert (cfg / "current").is_symlink()
    assert fetched(cfg) == sent(central)  # the engine's files at the top, the broker's in broker/
    # a new generation replaces it atomically; the previous release is kept
    main = central / "engine" / "7" / "centengine.cfg"
    main.write_text(main.read_text() + "# generation 2\n")
    rc, err = run(sshd, cfg, central)
    assert rc == 0, err
    assert (cfg / "current" / "centengine.cfg").read_text().endswith("# generation 2\n")
    assert len(list((cfg / "releases").iterdir())) == 2
    assert not list(cfg.glob(".staging-*"))


def test_central_down_keeps_the_last_good_config(sshd: dict[str, str], central: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "etc"
    assert run(sshd, cfg, central)[0] == 0
    before = tree(cfg / "current")
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    closed = str(s.getsockname()[1])
    s.close()
    rc, err = run({**sshd, "PFT_SSHD_PORT": closed}, cfg, central)
    assert rc == 0
    assert "attempt 1/2: the central is unreachable" in err and "attempt 2/2" in err
    assert "WARNING: fetching failed; the engine starts with the LAST GOOD configuration" in err
    assert tree(cfg / "current") == before


def test_transfer_cut_keeps_the_previous_config_byte_for_byte(
    sshd: dict[str, str], central: Path, tmp_path: Path
) -> None:
    cfg = tmp_path / "etc"
    assert run(sshd, cfg, central)[0] == 0
    before = tree(cfg / "current")
    (central / "engine" / "7" / "big.cfg").write_bytes(os.urandom(2 * 1024 * 1024))
    # this key's forced command serves rsync at 50 KB/s and kills the server side after 2 s
    rc, err = run(sshd, cfg, central, key="cut_ed25519", FETCH_ATTEMPTS="1")
    assert rc == 0
    assert "attempt 1/1: rsync failed with exit code" in err, err
    assert tree(cfg / "current") == before
    assert not list(cfg.glob(".staging-*"))


def test_failed_verification_keeps_the_previous_config(sshd: dict[str, str], central: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "etc"
    assert run(sshd, cfg, central)[0] == 0
    before = tree(cfg / "current")
    (central / "engine" / "7" / "centengine.cfg").write_text("")  # the central generated an empty main file
    rc, err = run(sshd, cfg, central, FETCH_ATTEMPTS="1")
    assert rc == 0 and "verification failed (exit 1)" in err
    assert tree(cfg / "current") == before


def test_no_previous_config_is_a_clear_failure(sshd: dict[str, str], central: Path, tmp_path: Path) -> None:
    rc, err = run(sshd, tmp_path / "etc", central, VERIFY_COMMAND="false", FETCH_ATTEMPTS="1")
    assert rc == 2
    assert "ERROR: fetching failed and there is no previous configuration in" in err
    assert "the engine cannot start" in err


def test_unknown_host_key_is_refused(sshd: dict[str, str], central: Path, tmp_path: Path) -> None:
    other = tmp_path / "known_hosts"
    other.write_text(
        f"[127.0.0.1]:{sshd['PFT_SSHD_PORT']} ssh-ed25519 "
        "AAAAC3NzaC1lZDI1NTE5AAAAIGxT7gpf6EDPDFQg0SXkJj6uGqUk6HfLz5nB0Q6a9kXz\n"
    )
    rc, err = run(sshd, tmp_path / "etc", central, KNOWN_HOSTS=str(other), FETCH_ATTEMPTS="3")
    assert rc == 2
    assert "the central's SSH host key is not the one in KNOWN_HOSTS: refused" in err
    assert "attempt 2/3" not in err  # a wrong host key is not retried


NAGIOS_VERIFY = "/usr/sbin/nagios4 -v {config}/centengine.cfg"


def test_the_staged_copy_is_verified_and_installed_pointing_at_current(
    sshd: dict[str, str], central: Path, tmp_path: Path
) -> None:
    """Centreon's main file names its files under the poller's configured directory: the
    verification (a real nagios4 -v) must read the staged files, and the engine current/."""
    cfg = tmp_path / "etc"
    rc, err = run(sshd, cfg, central, VERIFY_COMMAND=NAGIOS_VERIFY, FETCH_ATTEMPTS="1")
    assert rc == 0, err
    main = (cfg / "current" / "centengine.cfg").read_text()
    assert f"cfg_file={cfg}/current/hosts.cfg\n" in main and f"resource_file={cfg}/current/resource.cfg\n" in main
    assert ENGINE_PATH not in main
    good = tree(cfg / "current")
    # a generation with an object error is refused although the running tree is valid
    (central / "engine" / "7" / "services.cfg").write_text("define service {\n  host_name nosuchhost\n}\n")
    rc, err = run(sshd, cfg, central, VERIFY_COMMAND=NAGIOS_VERIFY, FETCH_ATTEMPTS="1")
    assert rc == 0 and "verification failed (exit 1)" in err, err
    assert tree(cfg / "current") == good
    assert not list(cfg.glob(".staging-*"))


def test_the_broker_module_line_follows_the_broker_files(sshd: dict[str, str], tmp_path: Path) -> None:
    remote = tmp_path / "central"
    generate(remote, 7)  # 19.04's module lines: externalcmd.so, cbmod.so with poller-module.xml
    cfg = tmp_path / "etc"
    rc, err = run(
        sshd,
        cfg,
        remote,
        VERIFY_COMMAND="grep -qx broker_module=.*{config}/broker/poller-module.xml {config}/centengine.cfg",
    )
    assert rc == 0, err
    main = (cfg / "current" / "centengine.cfg").read_text()
    assert f"broker_module=/usr/lib64/nagios/cbmod.so {cfg}/current/broker/poller-module.xml\n" in main
    assert "broker_module=/usr/lib64/centreon-engine/externalcmd.so\n" in main  # no configuration path: as is
    assert "<broker_name>poller-module</broker_name>" in (cfg / "current" / "broker" / "poller-module.xml").read_text()


def test_owners_devices_and_outside_links_of_the_central_are_not_kept(
    sshd: dict[str, str], central: Path, tmp_path: Path
) -> None:
    engine = central / "engine" / "7"
    os.chown(engine / "hosts.cfg", 12345, 12345)
    os.mkfifo(engine / "fifo.cfg")
    (engine / "passwd.cfg").symlink_to("/etc/passwd")
    cfg = tmp_path / "etc"
    rc, err = run(sshd, cfg, central)
    assert rc == 0, err
    st = (cfg / "current" / "hosts.cfg").stat()
    assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid())
    assert not (cfg / "current" / "fifo.cfg").exists() and not (cfg / "current" / "passwd.cfg").is_symlink()


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("CENTRAL_PORT", "22a", "CENTRAL_PORT='22a' is not a whole number from 1 to 65535"),
        ("CENTRAL_PORT", "70000", "CENTRAL_PORT='70000' is not a whole number from 1 to 65535"),
        ("FETCH_TIMEOUT", "2m", "FETCH_TIMEOUT='2m' is not a number of seconds from 1 to 3600"),
        ("FETCH_ATTEMPTS", "-1", "FETCH_ATTEMPTS='-1' is not a whole number from 1 to 100"),
        ("FETCH_BACKOFF", "nan", "FETCH_BACKOFF='nan' is not a number of seconds from 0 to 600"),
        ("POLLER_ID", "7;rm", "POLLER_ID='7;rm' is not a Centreon poller id (a number)"),
        ("SSH_KEY", "key file", "SSH_KEY='key file' must be an absolute path without white space or '..'"),
    ],
)
def test_bad_environment_values_are_refused_before_use_and_keep_the_last_good_config(
    sshd: dict[str, str], central: Path, tmp_path: Path, name: str, value: str, message: str
) -> None:
    cfg = tmp_path / "etc"
    assert run(sshd, cfg, central)[0] == 0
    before = tree(cfg / "current")
    rc, err = run(sshd, cfg, central, **{name: value})
    assert rc == 0, err
    assert err.splitlines()[0] == f"pollerfleet-fetch-config: bad environment: {message}"
    assert "WARNING: the environment is invalid; the engine starts with the LAST GOOD configuration" in err
    assert "Traceback" not in err
    assert tree(cfg / "current") == before


def test_the_default_layout_is_centreon_19_04s_and_one_setting_names_another(
    sshd: dict[str, str], central: Path, tmp_path: Path
) -> None:
    """19.04 generates into /usr/share/centreon/filesGeneration (20.04+: /var/cache/centreon/config):
    without REMOTE_* the client asks for the former; REMOTE_BASE_DIR alone moves both directories."""
    rc, err = run_with(sshd, tmp_path / "etc", FETCH_ATTEMPTS="1")
    assert rc == 2
    assert "(from root@127.0.0.1:/usr/share/centreon/filesGeneration/engine/7)" in err, err
    rc, err = run_with(sshd, tmp_path / "etc", FETCH_ATTEMPTS="1", REMOTE_BASE_DIR=str(central))
    assert rc == 0, err
    assert fetched(tmp_path / "etc") == sent(central)


def test_no_poller_id_for_the_centreon_layout_is_said(sshd: dict[str, str], central: Path, tmp_path: Path) -> None:
    rc, err = run(sshd, tmp_path / "etc", central, POLLER_ID="", REMOTE_CONFIG_DIR="/x/{poller_id}")
    assert rc == 2
    assert "bad environment: POLLER_ID is not set and REMOTE_CONFIG_DIR needs it (/x/{poller_id})" in err


@pytest.fixture
def small_disk(tmp_path: Path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mnt)], capture_output=True, check=False)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {r.stderr.decode().strip()}")
    yield mnt
    subprocess.run(["umount", str(mnt)], check=True)


def test_a_full_disk_keeps_current_and_leaves_no_staging_directory(
    sshd: dict[str, str], central: Path, small_disk: Path
) -> None:
    cfg = small_disk / "etc"
    assert run(sshd, cfg, central)[0] == 0
    before = tree(cfg / "current")
    (central / "engine" / "7" / "big.cfg").write_bytes(os.urandom(1024 * 1024))  # more than the disk holds
    rc, err = run(sshd, cfg, central, FETCH_ATTEMPTS="1")
    assert rc == 0, err
    assert "attempt 1/1:" in err and "Traceback" not in err
    assert "WARNING: fetching failed; the engine starts with the LAST GOOD configuration" in err
    assert tree(cfg / "current") == before
    assert not list(cfg.glob(".staging-*"))


def test_pushes_are_verified_before_they_replace_the_running_config(central: Path, tmp_path: Path) -> None:
    """--watch-push (supervisord's config-push program) applies what the central pushed to PUSH_DIR:
    a valid push becomes current/, a broken one is refused and changes nothing."""
    inbox = tmp_path / "push"
    shutil.copytree(central / "engine" / "7", inbox / "engine")
    shutil.copytree(central / "broker" / "7", inbox / "broker")
    os.mkfifo(inbox / "engine" / "fifo")
    (inbox / "engine" / "passwd.cfg").symlink_to("/etc/passwd")  # root must not copy what a link names
    (inbox / "engine" / "etc").symlink_to("/etc", target_is_directory=True)
    cfg = tmp_path / "etc"
    env = {
        "PATH": os.environ["PATH"],
        "POLLER_ID": "7",
        "CONFIG_DIR": str(cfg),
        "PUSH_DIR": str(inbox),
        "PUSH_RESULTS": str(tmp_path / "results"),
        "SUPERVISOR_CONFIG": str(tmp_path / "no-supervisord.conf"),  # no engine to signal here
        "VERIFY_COMMAND": NAGIOS_VERIFY,
    }
    watcher = subprocess.Popen([CLIENT_PYTHON, str(CLIENT), "--watch-push"], env=env, stderr=subprocess.PIPE, text=True)

    def push(request_id: str) -> str:
        (inbox / f".request-reload-{request_id}").touch()  # poller-push's `sudo service centengine reload`
        result = tmp_path / "results" / request_id
        wait_for(result.exists, 30, what=f"the result of push {request_id}")
        return result.read_text()

    try:
        result = push("1-1")
        assert result.startswith("OK applied "), result
        assert fetched(cfg) == sent(central)  # the FIFO was not copied
        good = tree(cfg / "current")
        (inbox / "engine" / "hosts.cfg").write_text("define host {\n  host_name broken\n}\n")
        result = push("2-1")
        assert result.startswith("REFUSED reload: verification failed (exit 1)"), result
        assert result.rstrip().endswith("the running configuration is unchanged")
        assert tree(cfg / "current") == good
        assert not list(cfg.glob(".staging-*"))
    finally:
        watcher.kill()
        watcher.communicate()
