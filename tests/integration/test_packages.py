"""The packages that `make packages` builds: what they hold, and the .deb installed for real.

The .deb goes into a clean Debian 12 container (a root filesystem made by mmdebstrap, imported into
the test daemon, no network), and every plugin in /usr/lib/centreon/plugins runs there as the
engine's user. The two .rpm (EL7 on rh-python38, EL8/EL9 on python3.9) cannot be installed here (no
EL userland can be fetched), so their file lists, modes, owners, requirements and scriptlets are read
with rpm itself, and the EL7 one is held to what EL7's rpm 4.11 understands. The builds run offline
from the wheelhouse and the root filesystem that `make package-deps` fetched once.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import DOCKER_CLI, PLUGINS, ROOT, Docker

pytestmark = pytest.mark.packages

ENGINE_USER = "centreon-engine"
ROOTFS_IMAGE = "pollerfleet-test/debian12-rootfs:1"
PLUGIN_DIR = "/usr/lib/centreon/plugins"
EXECUTABLES = sorted([*(p.name for p in PLUGINS.iterdir()), "pollerfleet"])
STATE_DIRS = ("/var/cache/pollerfleet", "/var/lib/pollerfleet", "/var/log/pollerfleet")


# the RPMs: target -> (file name's release, the venv's interpreter, the package that brings it, Python X.Y)
RPMS = {
    "el7": ("1.el7", "/opt/rh/rh-python38/root/usr/bin/python3", "rh-python38-python", "3.8"),
    "el8": ("1", "/usr/bin/python3.9", "/usr/bin/python3.9", "3.9"),
}
# What rpm 4.11 (CentOS/RHEL 7) provides as rpmlib() features: a package needing any other
# (rich dependencies, zstd payloads, large files, caret versions...) cannot be installed there.
RPM_411_FEATURES = {
    "BuiltinLuaScripts",
    "CompressedFileNames",
    "ConcurrentAccess",
    "ExplicitPackageProvide",
    "FileCaps",
    "FileDigests",
    "HeaderLoadSortsTags",
    "PartialHardlinkSets",
    "PayloadFilesHavePrefix",
    "PayloadIsBzip2",
    "PayloadIsLzma",
    "PayloadIsXz",
    "ScriptletExpansion",
    "ScriptletInterpreterArgs",
    "TildeInVersions",
    "VersionedDependencies",
}


@pytest.fixture(scope="session")
def packages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run(
        ["bash", str(ROOT / "packaging" / "build.sh"), "packages"],
        cwd=ROOT,
        env={**os.environ, "OUT": str(out), "PY": str(ROOT / ".venv" / "bin" / "python")},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(f"packaging/build.sh packages failed (wheelhouse fetched? make package-deps):\n{proc.stderr}")
    built = sorted(p.name for p in out.iterdir())
    version = next(n.split("_")[1] for n in built if n.endswith(".deb"))
    expected = {
        "deb": f"centreon-poller-fleet_{version}_amd64.deb",
        **{t: f"centreon-poller-fleet-{version.rsplit('-', 1)[0]}-{r[0]}.x86_64.rpm" for t, r in RPMS.items()},
    }
    assert built == sorted(expected.values())
    return {target: out / name for target, name in expected.items()}


def rpm_query(rpm: Path, *args: str) -> str:
    return subprocess.run(["rpm", "-qp", *args, str(rpm)], capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="session", params=sorted(RPMS))
def rpm_target(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def rpm_files(packages: dict[str, Path], rpm_target: str) -> dict[str, tuple[str, str, str, str]]:
    """path -> (mode as ls shows it, user:group, rpm file flags, symlink target)."""
    fmt = "[%{FILENAMES}\t%{FILEMODES:perms}\t%{FILEUSERNAME}:%{FILEGROUPNAME}\t%{FILEFLAGS:fflags}\t%{FILELINKTOS}\n]"
    rows = [line.split("\t") for line in rpm_query(packages[rpm_target], "--queryformat", fmt).splitlines()]
    return {r[0]: (r[1], r[2], r[3], r[4]) for r in rows}


def rpm_file(rpm: Path, path: str) -> str:
    """One file of the package's payload, as rpm2archive (Debian's rpm2cpio package) unpacks it."""
    archive = subprocess.run(["rpm2archive", "-"], stdin=rpm.open("rb"), capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        member = tar.extractfile(f".{path}")
        assert member is not None, path
        return member.read().decode()


def test_rpm_links_every_plugin_where_user1_points(rpm_files: dict[str, tuple[str, str, str, str]]) -> None:
    for name in EXECUTABLES:
        mode, owner, _, target = rpm_files[f"{PLUGIN_DIR}/{name}"]
        assert (mode[0], target) == ("l", f"/opt/pollerfleet/bin/{name}")
        mode, owner, _, _ = rpm_files[f"/opt/pollerfleet/bin/{name}"]
        assert (mode, owner) == ("-rwxr-xr-x", "root:root")
    assert {p for p in rpm_files if p.startswith(f"{PLUGIN_DIR}/")} == {f"{PLUGIN_DIR}/{n}" for n in EXECUTABLES}


def test_rpm_carries_a_venv_on_the_platform_python(
    packages: dict[str, Path], rpm_files: dict[str, tuple[str, str, str, str]], rpm_target: str
) -> None:
    _, interpreter, _, version = RPMS[rpm_target]
    assert rpm_files["/opt/pollerfleet/bin/python"][3] == interpreter
    home = rpm_file(packages[rpm_target], "/opt/pollerfleet/pyvenv.cfg")
    assert f"home = {interpreter.rsplit('/', 1)[0]}\n" in home and f"version = {version}\n" in home
    site = f"/opt/pollerfleet/lib/python{version}/site-packages"
    assert f"{site}/pollerfleet/cli/__init__.py" in rpm_files
    assert f"{site}/tomli/__init__.py" in rpm_files  # python_version < "3.11" holds on the target
    binaries = [p for p in rpm_files if p.startswith(site) and p.endswith(".so")]
    abi = f"cpython-{version.replace('.', '')}-"
    assert binaries and all(abi in p or p.endswith(".abi3.so") for p in binaries), binaries
    assert any(abi in p for p in binaries)  # PyYAML's C loader, built for this Python
    assert not any("/bin/" in p for p in rpm_files if p.startswith(site))
    for name in EXECUTABLES:
        script = rpm_file(packages[rpm_target], f"/opt/pollerfleet/bin/{name}")
        assert script.startswith("#!/opt/pollerfleet/bin/python\n"), name
    # byte-compiled for the target (the engine's user cannot write __pycache__ there)
    assert f"{site}/pollerfleet/cli/__pycache__/main.cpython-{version.replace('.', '')}.pyc" in rpm_files


def test_rpm_urllib3_fits_the_platform_openssl(
    rpm_files: dict[str, tuple[str, str, str, str]], rpm_target: str
) -> None:
    """rh-python38 links CentOS 7's OpenSSL 1.0.2k, and urllib3 2 refuses to import below 1.1.1."""
    site = f"/opt/pollerfleet/lib/python{RPMS[rpm_target][3]}/site-packages"
    urllib3 = [p.split("/")[-2] for p in rpm_files if p.startswith(f"{site}/urllib3-") and p.endswith("/METADATA")]
    assert len(urllib3) == 1, urllib3
    major = urllib3[0].split("-")[1].split(".")[0]
    assert major == ("1" if rpm_target == "el7" else "2"), urllib3


def test_rpm_config_and_directories(rpm_files: dict[str, tuple[str, str, str, str]]) -> None:
    assert rpm_files["/etc/pollerfleet/fleet.toml"][:3] == ("-rw-r-----", f"root:{ENGINE_USER}", "cn")
    assert rpm_files["/etc/pollerfleet"][:2] == ("drwxr-x---", f"root:{ENGINE_USER}")
    for d in STATE_DIRS:
        assert rpm_files[d][:2] == ("drwxr-x---", f"{ENGINE_USER}:{ENGINE_USER}"), d
    for name in ("centreon-clapi.txt", "pollerfleet-objects.cfg", "source.toml"):
        assert rpm_files[f"/usr/share/centreon-poller-fleet/commands/{name}"][:2] == ("-rw-r--r--", "root:root")


def test_rpm_requirements_and_scriptlets(packages: dict[str, Path], rpm_target: str) -> None:
    requires = rpm_query(packages[rpm_target], "--requires").split("\n")
    assert RPMS[rpm_target][2] in requires and "shadow-utils" in requires
    scripts = rpm_query(packages[rpm_target], "--scripts")
    pre = scripts.split("preinstall scriptlet (using /bin/sh):")[1].split("scriptlet")[0]
    assert "groupadd --system centreon-engine" in pre and "useradd --system" in pre
    assert "getent passwd centreon-engine" in pre  # an existing engine user is left alone


def test_el7_rpm_asks_only_what_rpm_411_knows(packages: dict[str, Path]) -> None:
    """CentOS 7's rpm 4.11: no rich (boolean) dependencies, no zstd payload, /bin/sh scriptlets only."""
    rpm = packages["el7"]
    requires = [r for r in rpm_query(rpm, "--requires").splitlines() if r]
    features = {r.split("(", 1)[1].split(")", 1)[0] for r in requires if r.startswith("rpmlib(")}
    assert features and features <= RPM_411_FEATURES, features - RPM_411_FEATURES
    assert not any(r.startswith("(") or " or " in r or " if " in r for r in requires), requires
    assert sorted(requires) == sorted(
        ["rh-python38-python", "shadow-utils", *(r for r in requires if r.startswith("rpmlib("))]
    )
    assert rpm_query(rpm, "--queryformat", "%{PAYLOADCOMPRESSOR}") in {"gzip", "xz", "bzip2"}
    scripts = rpm_query(rpm, "--scripts", "--triggers", "--filetriggers")
    interpreters = re.findall(r"^(\w+) scriptlet \(using ([^)]+)\)", scripts, flags=re.MULTILINE)
    assert interpreters == [("preinstall", "/bin/sh")], scripts
    assert "%" not in scripts  # no macro left for rpm to expand (systemd or other)


def test_no_file_points_back_to_the_build_machine(packages: dict[str, Path], tmp_path: Path) -> None:
    subprocess.run(["dpkg-deb", "-x", str(packages["deb"]), str(tmp_path)], check=True)
    for f in (tmp_path / "opt/pollerfleet/bin").iterdir():
        if not f.is_symlink():
            assert f.read_text().startswith("#!/opt/pollerfleet/bin/python\n"), f
    assert os.readlink(tmp_path / "opt/pollerfleet/bin/python") == "/usr/bin/python3.11"
    assert "home = /usr/bin\n" in (tmp_path / "opt/pollerfleet/pyvenv.cfg").read_text()


def docker_exec(docker: Docker, container: str, *cmd: str, user: str = "root") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DOCKER_CLI, "-H", docker.host, "exec", "-u", user, container, *cmd],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="session")
def debian12_image(docker: Docker) -> str:
    """The clean Debian 12 root filesystem, imported into the test daemon once."""
    present = subprocess.run([DOCKER_CLI, "-H", docker.host, "image", "inspect", ROOTFS_IMAGE], capture_output=True)
    if present.returncode != 0:
        tar = subprocess.run(
            ["bash", str(ROOT / "packaging" / "debian12-rootfs.sh"), "--path"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        if not Path(tar).is_file():
            pytest.fail(f"no Debian 12 root filesystem at {tar}: make package-deps builds it once")
        docker("import", tar, ROOTFS_IMAGE, timeout=300)
    return ROOTFS_IMAGE


@pytest.fixture(scope="session")
def debian12(docker: Docker, debian12_image: str, packages: dict[str, Path]) -> Iterator[str]:
    """A clean Debian 12 container (no network) with the .deb installed by dpkg -i."""
    deb = packages["deb"]
    name = docker.run(
        "pkg-debian12", "-v", f"{deb.parent}:/pkg:ro", image=debian12_image, cmd=("sleep", "infinity"), network="none"
    )
    install = docker_exec(docker, name, "dpkg", "-i", f"/pkg/{deb.name}")
    assert install.returncode == 0, install.stdout + install.stderr
    yield name
    docker("rm", "-f", name, check=False)


@pytest.mark.docker
@pytest.mark.slow
def test_deb_installs_offline_with_owners_set(docker: Docker, debian12: str) -> None:
    paths = ["/etc/pollerfleet", "/etc/pollerfleet/fleet.toml", *STATE_DIRS]
    stat = docker_exec(docker, debian12, "stat", "-c", "%n %A %U:%G", *paths).stdout.splitlines()
    assert stat == [
        f"/etc/pollerfleet drwxr-x--- root:{ENGINE_USER}",
        f"/etc/pollerfleet/fleet.toml -rw-r----- root:{ENGINE_USER}",
        *[f"{d} drwxr-x--- {ENGINE_USER}:{ENGINE_USER}" for d in STATE_DIRS],
    ]
    conffiles = docker_exec(docker, debian12, "cat", "/var/lib/dpkg/info/centreon-poller-fleet.conffiles").stdout
    assert conffiles.split() == ["/etc/pollerfleet/fleet.toml"]
    check = docker_exec(docker, debian12, "/usr/bin/pollerfleet", "check-config", user=ENGINE_USER)
    assert (check.returncode, check.stdout) == (0, "configuration OK: /etc/pollerfleet/fleet.toml\n")


NOWHERE = ("-H", "127.0.0.1", "--docker-url", "tcp://127.0.0.1:9", "--no-tls")  # nothing listens there
CALLS = {
    "check_docker_host": (NOWHERE, 3, "DOCKER UNKNOWN - "),
    "check_poller_container": (NOWHERE, 3, "CONTAINER UNKNOWN - "),
    "check_poller_image": (NOWHERE, 3, "IMAGE UNKNOWN - "),
    "check_poller_vmware": (NOWHERE, 3, "VMWARE UNKNOWN - "),
    "check_engine_release": (("--upstream", "http://127.0.0.1:9/", "--registry", "http://127.0.0.1:9"), 3, "RELEASE "),
    "handle_poller_redeploy": (("OK", "HARD", "1", "poller01"), 0, "redeploy poller01: ignored"),
    "handle_engine_rebuild": (("OK", "HARD", "1"), 0, "rebuild (newest): ignored"),
    "pollerfleet": (("stale-result",), 3, "UNKNOWN - "),  # the pf_sweep_missing command
}


def test_every_executable_has_a_call() -> None:
    assert sorted(CALLS) == EXECUTABLES


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.parametrize("name", EXECUTABLES)
def test_installed_plugin_runs_as_the_engine_user(docker: Docker, debian12: str, name: str) -> None:
    args, rc, start = CALLS[name]
    run = docker_exec(docker, debian12, f"{PLUGIN_DIR}/{name}", *args, user=ENGINE_USER)
    assert run.returncode == rc, run.stdout + run.stderr
    assert run.stdout.startswith(start) and run.stdout.count("\n") == 1, run.stdout
    assert run.stderr == ""


@pytest.fixture(scope="session")
def el7_on_python38(docker: Docker, debian12_image: str, packages: dict[str, Path]) -> Iterator[str]:
    """The EL7 package unpacked after its own preinstall scriptlet ran, in a clean container (no
    network) where a Python 3.8 sits at rh-python38's path: pyenv's 3.8 (make test-py38's), mounted
    read-only at its own prefix, /opt/rh/rh-python38/root/usr/bin/python3 a link to it as in the
    collection. The userland is Debian's, not CentOS 7's (none can be fetched here): what this proves
    is the venv on that interpreter path, the wheels built for 3.8, the shebangs and the links."""
    found = subprocess.run(
        ["bash", str(ROOT / "tests" / "env" / "pyenv-python.sh"), "3.8"], capture_output=True, text=True, check=False
    )
    if found.returncode != 0:
        pytest.fail(f"no Python 3.8 to stand in for rh-python38: {found.stderr.strip()}")
    py38 = found.stdout.strip()
    prefix = str(Path(py38).parent.parent)
    rpm = packages["el7"]
    name = docker.run(
        "pkg-el7", "-v", f"{prefix}:{prefix}:ro", image=debian12_image, cmd=("sleep", "infinity"), network="none"
    )
    try:
        scl = "/opt/rh/rh-python38/root/usr/bin"
        # this container's /root: the engine's user must reach the interpreter's prefix below it
        setup = docker_exec(docker, name, "sh", "-ec", f"chmod 0755 /root; mkdir -p {scl}; ln -s {py38} {scl}/python3")
        assert setup.returncode == 0, setup.stderr
        prein = rpm_query(rpm, "--queryformat", "%{PREIN}")
        pre = docker_exec(docker, name, "sh", "-ec", prein)
        assert pre.returncode == 0, pre.stdout + pre.stderr
        payload = subprocess.run(["rpm2archive", "-"], stdin=rpm.open("rb"), capture_output=True, check=True).stdout
        unpack = subprocess.run(
            [DOCKER_CLI, "-H", docker.host, "exec", "-i", name, "tar", "-xzf", "-", "-C", "/"],
            input=payload,
            capture_output=True,
            timeout=120,
            check=False,
        )
        assert unpack.returncode == 0, unpack.stderr
        yield name
    finally:
        docker("rm", "-f", name, check=False)


@pytest.mark.docker
@pytest.mark.slow
def test_el7_venv_runs_on_the_collection_python(docker: Docker, el7_on_python38: str) -> None:
    """The venv's prefix, urllib3 1 (CentOS 7's OpenSSL), PyYAML's C loader built for 3.8."""
    probe = "import sys, urllib3, yaml; print(sys.version_info[:2], sys.prefix, urllib3.__version__[:2], "
    probe += "yaml.__with_libyaml__)"
    run = docker_exec(docker, el7_on_python38, "/opt/pollerfleet/bin/python", "-c", probe, user=ENGINE_USER)
    assert (run.stdout, run.stderr) == ("(3, 8) /opt/pollerfleet 1. True\n", "")


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.parametrize("name", EXECUTABLES)
def test_el7_plugin_runs_as_the_engine_user(docker: Docker, el7_on_python38: str, name: str) -> None:
    args, rc, start = CALLS[name]
    run = docker_exec(docker, el7_on_python38, f"{PLUGIN_DIR}/{name}", *args, user=ENGINE_USER)
    assert run.returncode == rc, run.stdout + run.stderr
    assert run.stdout.startswith(start) and run.stdout.count("\n") == 1, run.stdout
    assert run.stderr == ""


@pytest.mark.docker
@pytest.mark.slow
def test_deb_upgrade_keeps_the_admins_config_and_removal_keeps_state(
    docker: Docker, debian12_image: str, packages: dict[str, Path]
) -> None:
    """An edited fleet.toml survives a reinstall; removal leaves config and state, purge the config."""
    dist = packages["deb"].parent
    name = docker.run(
        "pkg-lifecycle", "-v", f"{dist}:/pkg:ro", image=debian12_image, cmd=("sleep", "infinity"), network="none"
    )

    def sh(script: str, user: str = "root") -> str:
        run = docker_exec(docker, name, "sh", "-ec", script, user=user)
        assert run.returncode == 0, run.stdout + run.stderr
        return run.stdout

    try:
        sh(f"dpkg -i /pkg/{packages['deb'].name} >/dev/null")
        sh("printf '[docker]\\ntimeout = 12\\n' >>/etc/pollerfleet/fleet.toml")
        sh("echo '{}' >/var/lib/pollerfleet/kept.json", user=ENGINE_USER)
        sh(f"dpkg -i /pkg/{packages['deb'].name} >/dev/null")
        assert sh("tail -1 /etc/pollerfleet/fleet.toml") == "timeout = 12\n"
        sh("dpkg -r centreon-poller-fleet >/dev/null")
        left = sh("ls -d /opt/pollerfleet /usr/lib/centreon/plugins/check_docker_host 2>/dev/null || true")
        assert left == ""
        assert (
            sh("ls /etc/pollerfleet /var/lib/pollerfleet")
            == "/etc/pollerfleet:\nfleet.toml\n\n/var/lib/pollerfleet:\nkept.json\n"
        )
        sh("dpkg -P centreon-poller-fleet >/dev/null")
        assert sh("ls /etc/pollerfleet 2>/dev/null || echo gone") == "gone\n"
    finally:
        docker("rm", "-f", name, check=False)
