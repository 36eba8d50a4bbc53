"""images/build-twin.sh: the Debian twin carries the production image's own files, no SSH host
keys, Postfix 3 and an engine named centengine. Running it is test_twin_poller.py."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.helpers import DOCKER_CLI, ROOT, Docker

pytestmark = [pytest.mark.docker, pytest.mark.twin, pytest.mark.slow]
CONTEXT = ROOT / "images" / "centreon-engine"
SAME_FILES = {
    "entrypoint.sh": "/usr/local/bin/poller-entrypoint",
    "fetch_config.py": "/usr/local/bin/pollerfleet-fetch-config",
    "healthcheck.sh": "/usr/local/bin/poller-healthcheck",
    "poller-push.sh": "/usr/local/bin/poller-push",
    "supervisord.conf": "/etc/supervisord.conf",
    "sshd_config": "/etc/ssh/sshd_config.poller",
    "setup.sh": "/usr/local/lib/pollerfleet/setup.sh",
}


def in_image(docker: Docker, image: str, *cmd: str) -> str:
    return docker("run", "--rm", "--network", "none", "--entrypoint", cmd[0], image, *cmd[1:])


def instructions(dockerfile: str, name: str) -> list[str]:
    return [line for line in dockerfile.splitlines() if line.startswith(name + " ")]


def test_the_twin_runs_the_production_files_unchanged(docker: Docker, twin_image: str) -> None:
    script = "; ".join(f"sha256sum {path}" for path in SAME_FILES.values())
    sums = dict(reversed(line.split()) for line in in_image(docker, twin_image, "sh", "-c", script).splitlines())
    for name, path in SAME_FILES.items():
        assert sums[path] == hashlib.sha256((CONTEXT / name).read_bytes()).hexdigest(), name
    prod = (CONTEXT / "Dockerfile").read_text()
    twin = (CONTEXT / "Dockerfile.twin").read_text()
    for instruction in ("HEALTHCHECK", "ENTRYPOINT", "CMD", "VOLUME", "COPY"):
        assert instructions(twin, instruction) == instructions(prod, instruction), instruction


def test_no_host_keys_postfix_3_and_the_engine_named_centengine(docker: Docker, twin_image: str) -> None:
    assert (
        in_image(docker, twin_image, "sh", "-c", "ls /etc/ssh/ssh_host_* /etc/ssh/host-keys/* 2>/dev/null; true") == ""
    )
    major, minor = map(int, in_image(docker, twin_image, "postconf", "-h", "mail_version").split(".")[:2])
    assert (major, minor) >= (3, 4)  # `postfix start-fg` and maillog_file
    assert "Nagios Core 4" in in_image(docker, twin_image, "centengine", "--version")
    ids = in_image(docker, twin_image, "sh", "-c", "id -u centreon-engine; id -g centreon-engine; id -u centreon")
    assert ids.split() == ["993", "990", "994"]
    labels = docker("image", "inspect", "-f", "{{json .Config.Labels}}", twin_image)
    assert '"org.opencontainers.image.version":"19.04.1"' in labels


def test_build_twin_refuses_a_bad_tag_and_a_missing_daemon() -> None:
    script = str(ROOT / "images" / "build-twin.sh")
    r = subprocess.run(["bash", script, "Bad Tag"], capture_output=True, text=True, check=False)
    assert (r.returncode, r.stderr) == (64, "build-twin.sh: 'Bad Tag' is not an image reference\n")
    r = subprocess.run(
        ["bash", script, "x/y:1"], capture_output=True, text=True, check=False, env={"PATH": "/usr/bin:/bin"}
    )
    assert (r.returncode, r.stderr) == (64, "build-twin.sh: DOCKER_HOST is not set: name the daemon to build into\n")


def build_twin(docker: Docker, tag: str, cache: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(ROOT / "images" / "build-twin.sh"), tag],
        env={**os.environ, "DOCKER_HOST": docker.host, "DOCKER": DOCKER_CLI, "TWIN_CACHE_DIR": str(cache)},
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def test_the_twin_builds_from_an_empty_cache_and_discards_a_broken_one(docker: Docker, tmp_path: Path) -> None:
    """The newcomer's path: nothing cached. Then the mistake of old: a directory under the .tar name
    (what mmdebstrap wrote for a temporary name not ending in .tar) is discarded, never trusted."""
    cache = tmp_path / "twin-cache"
    tag = f"pollerfleet-test/twin-cold:{os.getpid()}"
    r = build_twin(docker, tag, cache)
    assert r.returncode == 0, r.stderr
    assert "making the bookworm root filesystem" in r.stderr
    (rootfs,) = cache.glob("rootfs-bookworm-*.tar")
    assert rootfs.is_file() and tarfile.is_tarfile(rootfs)
    assert list(cache.iterdir()) == [rootfs], "no temporary file is left behind"
    assert "Nagios Core 4" in in_image(docker, tag, "centengine", "--version")

    # warm: the cached tarball is used as it is
    r = build_twin(docker, tag, cache)
    assert r.returncode == 0, r.stderr
    assert "making the" not in r.stderr and "discarding" not in r.stderr

    # broken: a directory where the tarball should be is discarded with one line, then rebuilt
    rootfs.unlink()
    rootfs.mkdir()
    (rootfs / "etc").mkdir()
    r = build_twin(docker, tag, cache)
    assert r.returncode == 0, r.stderr
    assert f"build-twin.sh: discarding {rootfs}: not a readable tarball; building it again" in r.stderr.splitlines()
    assert rootfs.is_file() and tarfile.is_tarfile(rootfs)
    assert in_image(docker, tag, "sh", "-c", "test -x /usr/local/bin/poller-entrypoint && echo ok") == "ok"
    docker("image", "rm", tag)


def test_a_truncated_packaging_rootfs_is_rebuilt_not_trusted(tmp_path: Path) -> None:
    """packaging/debian12-rootfs.sh keeps the same rule: only a readable tarball is reused."""
    out = tmp_path / "debian12-rootfs.tar"
    out.write_bytes(b"not a tar archive at all" * 100)
    # a PATH without mmdebstrap: the script must discard the file and say it cannot rebuild,
    # never print the broken file's path as a usable root filesystem
    path = tmp_path / "bin"
    path.mkdir()
    for tool in ("tar", "dirname", "mkdir", "rm", "mktemp"):
        (path / tool).symlink_to(shutil.which(tool) or f"/bin/{tool}")
    r = subprocess.run(
        ["/bin/bash", str(ROOT / "packaging" / "debian12-rootfs.sh"), str(out)],
        env={"PATH": str(path), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert r.stderr.splitlines() == [
        f"debian12-rootfs.sh: discarding {out}: not a readable tarball; building it again",
        "debian12-rootfs.sh: apt-get install mmdebstrap",
    ]
    assert (r.returncode, r.stdout, out.exists()) == (1, "", False)
