"""Root never follows what the engine user plants in the directories it owns: `pollerfleet` run
by an operator with sudo appends to the audit log, takes the decision lock, reads the state file
and writes the registry cache there. A planted symbolic link, hard link or foreign file is
refused; the file it points to is left untouched."""

from __future__ import annotations

import grp
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import Docker, pollerfleet, run_plugin, write_fleet_config, write_inventory
from tests.registry_tools import build_and_push
from tests.standins.jenkins import JenkinsStandin, Job

pytestmark = [pytest.mark.docker, pytest.mark.registry, pytest.mark.jenkins]
ENGINE_USER = "nagios"
TOKEN = "pl4nted-token"
JOB = "deploy-centreon-poller"
SECRET = b"root:only-root-reads-this\n"


@dataclass
class Planted:
    base: Path
    cfg: Path
    state: Path
    log: Path
    cache: Path
    victim: Path  # a root-owned 0600 file outside the engine user's reach
    container: str
    docker: Docker

    def redeploy(self) -> tuple[int, str, str]:
        r = pollerfleet(self.cfg, "redeploy", "poller01", "--dry-run")
        return r.returncode, r.stdout, r.stderr

    def check(self) -> tuple[int, str]:
        r = run_plugin(
            "check_poller_image", "--docker-url", self.docker.host, "-n", self.container, "--config", str(self.cfg)
        )
        assert r.err == "", r.err
        return r.rc, r.line

    def untouched(self) -> None:
        st = self.victim.stat()
        assert self.victim.read_bytes() == SECRET
        assert (st.st_uid, st.st_mode & 0o777, st.st_nlink) == (0, 0o600, st.st_nlink)


@pytest.fixture
def planted(docker: Docker, registry: str, tmp_path: Path) -> Iterator[Planted]:
    if os.geteuid() != 0:
        pytest.skip("needs root: the point is what root does")
    gid = grp.getgrnam(ENGINE_USER).gr_gid
    name = f"{docker.prefix.rstrip('-')}/planted"
    build_and_push(docker, f"{registry}/{name}:19.04.5", "19.04.5")
    container = docker.run("planted", image=f"{registry}/{name}:19.04.5")
    poller01 = {
        "poller_image_repository": f"{registry}/{name}",
        "poller_docker_url": docker.host,
        "centreon_poller_engine_name": container,
    }
    inv = write_inventory(tmp_path / "inventory.yml", {"poller01": poller01})
    standin = JenkinsStandin({"pollerfleet": TOKEN}, [Job(JOB, ["HOSTNAME"], duration=0.1)]).start()
    try:
        cfg = write_fleet_config(
            tmp_path, jenkins_url=standin.url, token=TOKEN, registry_address=registry, inventory=inv
        )
        cfg.write_text(cfg.read_text().replace(str(tmp_path / "audit.log"), str(tmp_path / "log" / "audit.log")))
        dirs = [tmp_path / d for d in ("state", "log", "cache")]
        for d in dirs:  # as the package makes them: the engine user's group may write there
            d.mkdir()
            os.chown(d, 0, gid)
            d.chmod(0o770)
        victim = tmp_path / "victim"
        victim.write_bytes(SECRET)
        victim.chmod(0o600)
        yield Planted(tmp_path, cfg, *dirs, victim, container, docker)
    finally:
        standin.stop()


def test_the_audit_log_is_never_appended_through_a_symbolic_link(planted: Planted) -> None:
    (planted.log / "audit.log").symlink_to(planted.victim)
    rc, out, err = planted.redeploy()
    assert rc == 0 and "would-trigger" in out, out + err
    assert err == (
        f"pollerfleet: warning: cannot write the audit log {planted.log / 'audit.log'}: a symbolic link, "
        "not followed: refused\n"
    )
    planted.untouched()


def test_the_audit_log_is_never_appended_through_a_hard_link(planted: Planted) -> None:
    os.link(planted.victim, planted.log / "audit.log")
    rc, out, err = planted.redeploy()
    assert rc == 0 and "would-trigger" in out, out + err
    assert err == (
        f"pollerfleet: warning: cannot write the audit log {planted.log / 'audit.log'}: it has 2 hard links "
        "(a planted link?): refused\n"
    )
    assert planted.victim.read_bytes() == SECRET


def test_the_decision_lock_is_never_created_through_a_link(planted: Planted) -> None:
    target = planted.base / "created-by-root"
    (planted.state / "redeploy.lock").symlink_to(target)
    rc, out, _ = planted.redeploy()
    assert rc == 1
    assert out.startswith(
        f"redeploy poller01: refused: the decision lock {planted.state / 'redeploy.lock'} is unusable: "
        "a symbolic link, not followed: refused; automatic redeploys stop until an operator"
    ), out
    assert not target.exists() and not target.is_symlink()


@pytest.mark.parametrize("kind", ["symlink", "hardlink", "foreign-owner"])
def test_a_planted_state_file_stops_decisions(planted: Planted, kind: str) -> None:
    state = planted.state / "redeploy-state.json"
    if kind == "symlink":
        state.symlink_to(planted.victim)
        why = "a symbolic link, not followed: refused"
    elif kind == "hardlink":
        os.link(planted.victim, state)
        why = "it has 2 hard links (a planted link?): refused"
    else:  # a user who cannot write in the state directory owns it: a file moved or linked there
        state.write_text('{"breaker": {}, "hosts": {}, "triggers": []}')
        os.chown(state, 65534, 65534)
        why = f"owned by uid 65534, who cannot write in {planted.state}: refused"
    rc, out, _ = planted.redeploy()
    assert rc == 1
    assert out.startswith(f"redeploy poller01: refused: the state file {state} cannot be read by root: {why}; "), out
    planted.untouched()


def test_the_registry_cache_is_never_written_through_a_link(planted: Planted) -> None:
    assert planted.check()[0] == 0
    (entry,) = planted.cache.glob("registry-*.json")
    lock = entry.with_suffix(".lock")
    lock.unlink()
    target = planted.base / "created-by-root"
    lock.symlink_to(target)
    entry.unlink()
    entry.symlink_to(planted.victim)
    rc, line = planted.check()  # the cache cannot be used: the registry is asked, the check goes on
    assert rc == 0 and line.startswith("IMAGE OK - "), line
    assert not target.exists() and not target.is_symlink()
    planted.untouched()
    assert not [p for p in planted.cache.iterdir() if p.name.startswith(".")]  # no temporary file left behind
