"""The centreon-vmware entrypoint against a real git repository (a bare repo under a temp dir)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.helpers import ROOT

ENTRYPOINT = ROOT / "images" / "centreon-vmware" / "entrypoint.sh"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.invalid",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.invalid",
}


def git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, env={**os.environ, **GIT_ENV})


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    (work / "poller02").mkdir(parents=True)
    (work / "poller01.pm").write_text("%Centreon_Vmware_Config = (vsphere_server => {poller01 => {}});\n")
    (work / "poller02" / "centreon_vmware.pm").write_text("%Centreon_Vmware_Config = (vsphere_server => {p2 => {}});\n")
    git("init", "-q", "-b", "main", cwd=work)
    git("add", ".", cwd=work)
    git("commit", "-q", "-m", "vmware configs", cwd=work)
    bare = tmp_path / "configs.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)
    return bare


def start(tmp_path: Path, repo: Path, name: str, *cmd: str, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {
        **extra,
        "PATH": os.environ["PATH"],
        "VMWARE_CONFIG_REPO": f"file://{repo}",
        "POLLER_NAME": name,
        "VMWARE_CONFIG_DIR": str(tmp_path / "checkout"),
        "VMWARE_CONFIG_TARGET": str(tmp_path / "etc" / "vm.pm"),
    }
    return subprocess.run(
        ["bash", str(ENTRYPOINT), *cmd], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_the_file_for_this_host_is_deployed_then_the_daemon_starts(tmp_path: Path, repo: Path) -> None:
    r = start(tmp_path, repo, "poller01", "cat", str(tmp_path / "etc" / "vm.pm"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("vmware-entrypoint: deployed poller01.pm (")
    assert r.stdout.endswith("%Centreon_Vmware_Config = (vsphere_server => {poller01 => {}});\n")  # exec'd daemon
    # a second start pulls into the existing checkout; the per-directory layout works too
    r = start(tmp_path, repo, "poller02", "true")
    assert r.returncode == 0, r.stderr
    assert "deployed poller02/centreon_vmware.pm" in r.stdout
    assert (tmp_path / "etc" / "vm.pm").read_text().startswith("%Centreon_Vmware_Config = (vsphere_server => {p2")


def test_no_file_for_this_host_is_a_clear_error(tmp_path: Path, repo: Path) -> None:
    r = start(tmp_path, repo, "poller99", "true")
    assert r.returncode == 1
    assert (
        "vmware-entrypoint: no configuration for host 'poller99' in file://" in r.stderr
        and "expected poller99.pm or poller99/centreon_vmware.pm" in r.stderr
    )
    assert not (tmp_path / "etc" / "vm.pm").exists()


def test_a_host_name_that_is_not_one_is_refused(tmp_path: Path, repo: Path) -> None:
    r = start(tmp_path, repo, "../etc", "true")
    assert (r.returncode, r.stderr) == (1, "vmware-entrypoint: POLLER_NAME '../etc' is not a host name\n")


def test_no_repository_configured(tmp_path: Path) -> None:
    r = subprocess.run(
        ["bash", str(ENTRYPOINT)], env={"PATH": os.environ["PATH"]}, capture_output=True, text=True, check=False
    )
    assert (r.returncode, r.stderr) == (1, "vmware-entrypoint: VMWARE_CONFIG_REPO is not set\n")


def head(repo: Path) -> str:
    return subprocess.run(
        ["git", "rev-parse", "main"], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()


def test_the_commit_the_deploy_named_is_deployed_although_the_branch_moved_on(tmp_path: Path, repo: Path) -> None:
    first = head(repo)
    work = tmp_path / "work"
    (work / "poller01.pm").write_text("%Centreon_Vmware_Config = (generation => 2);\n")
    git("commit", "-q", "-am", "generation 2", cwd=work)
    git("push", "-q", str(repo), "main", cwd=work)
    target = tmp_path / "etc" / "vm.pm"
    r = start(tmp_path, repo, "poller01", "true", VMWARE_CONFIG_COMMIT=first)
    assert r.returncode == 0, r.stderr
    assert f"({first[:7]})" in r.stdout and "generation" not in target.read_text()
    # a later start with the new head, in the same checkout
    r = start(tmp_path, repo, "poller01", "true", VMWARE_CONFIG_COMMIT=head(repo))
    assert r.returncode == 0, r.stderr
    assert target.read_text() == "%Centreon_Vmware_Config = (generation => 2);\n"


@pytest.mark.parametrize(
    ("commit", "message"),
    [
        ("HEAD~1", "VMWARE_CONFIG_COMMIT 'HEAD~1' is not a commit id"),
        ("0" * 40, f"commit {'0' * 40} is not on main of file://"),
    ],
)
def test_a_commit_that_is_not_one_of_the_branch_is_refused(
    tmp_path: Path, repo: Path, commit: str, message: str
) -> None:
    r = start(tmp_path, repo, "poller01", "true", VMWARE_CONFIG_COMMIT=commit)
    assert r.returncode == 1 and message in r.stderr, r.stderr
    assert not (tmp_path / "etc" / "vm.pm").exists()
