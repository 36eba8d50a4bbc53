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
        "PATH": os.environ["PATH"],
        "VMWARE_CONFIG_REPO": extra.pop("VMWARE_CONFIG_REPO_OVERRIDE", f"file://{repo}"),
        "POLLER_NAME": name,
        "VMWARE_CONFIG_DIR": str(tmp_path / "checkout"),
        "VMWARE_CONFIG_TARGET": str(tmp_path / "etc" / "vm.pm"),
        "VMWARE_LOG_FILE": str(tmp_path / "log" / "centreon_vmware.log"),
        **extra,
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


def test_the_daemon_log_file_is_the_container_output(tmp_path: Path, repo: Path) -> None:
    """The daemon writes its --logfile; `docker logs` reads the container's stdout: the one is the other."""
    log = tmp_path / "log" / "centreon_vmware.log"
    r = start(tmp_path, repo, "poller01", "sh", "-c", f"echo 'handle-client: listening on 5700' >> {log}")
    assert r.returncode == 0, r.stderr
    assert r.stdout.endswith("handle-client: listening on 5700\n")
    assert log.is_symlink() and os.readlink(log) == "/dev/stdout"


def test_the_image_takes_its_log_path_from_the_entrypoint() -> None:
    dockerfile = (ROOT / "images" / "centreon-vmware" / "Dockerfile").read_text()
    assert "--logfile=/var/log/centreon/centreon_vmware.log" in dockerfile  # VMWARE_LOG_FILE's default


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


# --- a private repository: the credential is a file mounted read-only, never a variable's value --------


@pytest.fixture
def ssh_repo(repo: Path, sshd: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """The bare repository served over ssh by the suite's sshd on 127.0.0.1, and a deploy key file."""
    d = Path(sshd["PFT_SSHD_DIR"])
    key = tmp_path / "deploy-key"
    key.write_bytes((d / "id_ed25519").read_bytes())
    key.chmod(0o400)
    return {
        "VMWARE_CONFIG_REPO": f"ssh://root@127.0.0.1:{sshd['PFT_SSHD_PORT']}{repo}",
        "key": str(key),
        "known_hosts": str(d / "known_hosts"),
    }


@pytest.mark.sshd
def test_a_deploy_key_file_reads_a_private_repository_over_ssh(
    tmp_path: Path, repo: Path, ssh_repo: dict[str, str]
) -> None:
    env = {
        "VMWARE_CONFIG_SSH_KEY_FILE": ssh_repo["key"],
        "VMWARE_CONFIG_KNOWN_HOSTS_FILE": ssh_repo["known_hosts"],
        "HOME": str(tmp_path / "home"),  # no ~/.ssh to fall back on
    }
    r = start(tmp_path, repo, "poller01", "true", **env, VMWARE_CONFIG_REPO_OVERRIDE=ssh_repo["VMWARE_CONFIG_REPO"])
    assert r.returncode == 0, r.stderr
    assert "deployed poller01.pm" in r.stdout
    # a second start fetches over ssh again, with the same key
    r = start(tmp_path, repo, "poller01", "true", **env, VMWARE_CONFIG_REPO_OVERRIDE=ssh_repo["VMWARE_CONFIG_REPO"])
    assert r.returncode == 0, r.stderr
    # without the key the same repository is refused; an unknown host key is refused too
    r = start(tmp_path / "nokey", repo, "poller01", "true", HOME=str(tmp_path / "home"),
              VMWARE_CONFIG_REPO_OVERRIDE=ssh_repo["VMWARE_CONFIG_REPO"])  # fmt: skip
    assert r.returncode == 1 and "cannot clone" in r.stderr
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    r = start(tmp_path / "unknown", repo, "poller01", "true", **{**env, "VMWARE_CONFIG_KNOWN_HOSTS_FILE": str(empty)},
              VMWARE_CONFIG_REPO_OVERRIDE=ssh_repo["VMWARE_CONFIG_REPO"])  # fmt: skip
    assert r.returncode == 1 and "Host key verification failed" in r.stderr


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"VMWARE_CONFIG_SSH_KEY_FILE": "/nonexistent/key"},
            "VMWARE_CONFIG_SSH_KEY_FILE /nonexistent/key cannot be read",
        ),
        ({"VMWARE_CONFIG_SSH_KEY_FILE": "KEY"}, "VMWARE_CONFIG_KNOWN_HOSTS_FILE is not set"),
        ({"VMWARE_CONFIG_SSH_KEY_FILE": "key;id"}, "is not an absolute path"),
        (
            {"VMWARE_CONFIG_TOKEN_FILE": "/nonexistent/token"},
            "VMWARE_CONFIG_TOKEN_FILE /nonexistent/token cannot be read",
        ),
        ({"VMWARE_CONFIG_TOKEN_FILE": "TOKEN", "VMWARE_CONFIG_TOKEN_USER": "a b"}, "is not a user name"),
    ],
)
def test_a_credential_file_that_is_not_there_stops_the_start(
    tmp_path: Path, repo: Path, env: dict[str, str], message: str
) -> None:
    (tmp_path / "key").write_text("k")
    (tmp_path / "token").write_text("t")
    env = {k: v.replace("KEY", str(tmp_path / "key")).replace("TOKEN", str(tmp_path / "token")) for k, v in env.items()}
    r = start(tmp_path, repo, "poller01", "true", **env)
    assert r.returncode == 1 and message in r.stderr, r.stderr
    assert not (tmp_path / "etc" / "vm.pm").exists()


def test_a_token_file_is_what_git_sends_as_the_password(tmp_path: Path, repo: Path) -> None:
    """The credential helper the entrypoint gives git reads the mounted file when git asks (for an
    https:// repository): the token is in no environment variable and no command line."""
    token = tmp_path / "token"
    token.write_text("glpat-s3cret\n")
    entrypoint = ENTRYPOINT.read_text()
    assert "gitc() { git ${git_auth[@]+" in entrypoint  # every git call that reaches the network uses it
    env = {
        "PATH": os.environ["PATH"],
        "VMWARE_CONFIG_TOKEN_FILE": str(token),
        "VMWARE_CONFIG_TOKEN_USER": "deploy-bot",
        "VMWARE_CONFIG_REPO": f"file://{repo}",
        "POLLER_NAME": "poller01",
        "VMWARE_CONFIG_DIR": str(tmp_path / "checkout"),
        "VMWARE_CONFIG_TARGET": str(tmp_path / "vm.pm"),
        "VMWARE_LOG_FILE": str(tmp_path / "vm.log"),
        "GIT_TERMINAL_PROMPT": "0",
    }
    # run the helper exactly as the entrypoint defines it: source its git_auth and call git with it
    script = (
        f"set -Eeuo pipefail; source <(sed -n '/^path_re=/,/^gitc()/p' {ENTRYPOINT}); "
        "gitc credential fill <<< $'protocol=https\\nhost=git.example.com\\n'"
    )
    r = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=30, check=False)
    assert r.returncode == 0, r.stderr
    assert "username=deploy-bot\n" in r.stdout and "password=glpat-s3cret\n" in r.stdout
    assert "glpat-s3cret" not in entrypoint and "glpat" not in str(env)
