"""Monitoring Plugins conformance for every plugin: one line, exit 0-3, never argparse's 2."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pollerfleet import __version__
from pollerfleet.core import config
from tests.helpers import PLUGINS, run_plugin

ALL = sorted(p.name for p in PLUGINS.iterdir() if p.name.startswith("check_"))
LABEL = {
    "check_poller_container": "CONTAINER",
    "check_docker_host": "DOCKER",
    "check_poller_image": "IMAGE",
    "check_poller_vmware": "VMWARE",
    "check_engine_release": "RELEASE",
}
DOCKER_PLUGINS = [p for p in ALL if p != "check_engine_release"]


def target(plugin: str, where: str = "unix:///nonexistent/docker.sock") -> list[str]:
    """Options that point the plugin at something that does not answer."""
    if plugin == "check_engine_release":
        return ["--upstream", "http://127.0.0.1:9/", "--registry", "http://127.0.0.1:9"]
    return ["--docker-url", where]


# The container checks import nothing that imports typing (the others use libraries that do)
TYPING_FREE = {"check_poller_container", "check_poller_vmware"}
# check_poller_container builds records (core.record), not dataclasses: no dataclasses, no inspect
DATACLASS_FREE = {"check_poller_container"}
# What a plugin's start-up may not import: check_poller_image needs requests for the registry.
ALLOWED = {"check_poller_image": {"requests", "urllib3"}, "check_engine_release": {"requests", "urllib3"}}


def label(plugin: str) -> str:
    return LABEL.get(plugin, plugin.split("_")[-1].upper())


def test_every_plugin_is_covered() -> None:
    assert {"check_poller_container", "check_docker_host"} <= set(ALL)


@pytest.mark.parametrize("plugin", ALL)
def test_help(plugin: str) -> None:
    for flag in ("-h", "--help"):
        r = run_plugin(plugin, flag)
        assert r.rc == 0 and r.err == ""
        assert r.out.startswith(f"usage: {plugin} ")
        assert "--timeout" in r.out and "--config" in r.out


@pytest.mark.parametrize("plugin", ALL)
def test_version(plugin: str) -> None:
    for flag in ("-V", "--version"):
        r = run_plugin(plugin, flag)
        assert (r.rc, r.out, r.err) == (0, f"{plugin} {__version__}\n", "")


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["--config"], "argument --config: expected one argument"),
        (["-t", "soon"], "argument -t/--timeout: 'soon' is not a number"),
        (["-t", "-1"], "argument -t/--timeout: '-1' must be a positive number of seconds"),
        (["-t", "0"], "argument -t/--timeout: '0' must be a positive number of seconds"),
    ],
)
@pytest.mark.parametrize("plugin", ALL)
def test_bad_options_are_unknown_with_usage(plugin: str, args: list[str], reason: str) -> None:
    r = run_plugin(plugin, *args)
    assert r.rc == 3 and r.err == ""
    lines = r.out.splitlines()
    assert lines[0] == f"{label(plugin)} UNKNOWN - {reason}"
    assert lines[1].startswith(f"usage: {plugin} ")


@pytest.mark.parametrize(
    ("plugin", "option"),
    [
        ("check_poller_container", "--warning-restarts"),
        ("check_poller_container", "--critical-uptime"),
        ("check_docker_host", "--warning-latency"),
        ("check_docker_host", "-c"),
        ("check_poller_image", "--critical-behind"),
        ("check_poller_image", "--warning-lag"),
    ],
)
@pytest.mark.parametrize("bad", ["abc", "10:5", "1:2:3", "@"])
def test_bad_range_is_unknown(plugin: str, option: str, bad: str) -> None:
    r = run_plugin(plugin, "-H", "127.0.0.1", f"{option}={bad}")
    assert r.rc == 3 and r.err == ""
    assert re.match(
        rf"{label(plugin)} UNKNOWN - argument .*{re.escape(option)}.*: invalid range '{re.escape(bad)}'", r.line
    ), r.line


@pytest.mark.parametrize("plugin", DOCKER_PLUGINS)
def test_no_host_is_unknown(plugin: str) -> None:
    r = run_plugin(plugin)
    assert (r.rc, r.out) == (3, f"{label(plugin)} UNKNOWN - no Docker host given: use -H HOST or --docker-url URL\n")


@pytest.mark.parametrize("plugin", DOCKER_PLUGINS)
@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://x", "unsupported Docker URL 'ftp://x': use unix://, tcp:// or ssh://"),
        ("tcp://host", "Docker URL 'tcp://host' must be tcp://HOST:PORT"),
        ("tcp://host:notaport", "Docker URL 'tcp://host:notaport' must be tcp://HOST:PORT"),
        ("http://127.0.0.1:2375", "http://127.0.0.1:2375 is plain HTTP; pass --no-tls to allow an unencrypted daemon"),
    ],
)
def test_bad_docker_url_is_unknown(plugin: str, url: str, reason: str) -> None:
    r = run_plugin(plugin, "--docker-url", url)
    assert (r.rc, r.out, r.err) == (3, f"{label(plugin)} UNKNOWN - {reason}\n", "")


@pytest.mark.parametrize("plugin", ALL)
def test_bad_config_is_unknown(plugin: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    cfg = tmp_path / "fleet.toml"
    cfg.write_text("[docker]\nprot = 2376\n")
    r = run_plugin(plugin, *target(plugin), "--config", str(cfg))
    assert r.rc == 3
    assert r.out == (
        f"{label(plugin)} UNKNOWN - config file {cfg}: unknown key 'prot' in [docker] "
        "(known: api_version, port, ssh_config, timeout, tls, tls_dir)\n"
    )


@pytest.mark.parametrize("plugin", ALL)
def test_start_up_imports_only_what_the_check_uses(plugin: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """No Jenkins client, no Docker SDK, no requests in a Docker check's start-up (it runs every minute)."""
    imported = start_up_imports(plugin, tmp_path)
    assert "nagiosplugin" in imported  # the parse worked: this is the plugin's real start-up
    forbidden = {"jenkins", "docker", "requests", "urllib3", "paramiko"} - ALLOWED.get(plugin, set())

    assert not imported & forbidden


def start_up_imports(plugin: str, tmp_path: Path) -> set[str]:
    """The top-level modules a plugin run imports, aimed at a unix:// socket that is not there."""
    env = {k: v for k, v in os.environ.items() if k != "POLLERFLEET_CONFIG"}
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", str(PLUGINS / plugin), *target(plugin, f"unix://{tmp_path}/none.sock")],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert proc.returncode == 3, proc.stdout
    return {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in proc.stderr.splitlines() if "|" in line}


@pytest.mark.parametrize("plugin", ALL)
def test_start_up_imports_only_what_this_run_needs(plugin: str, tmp_path: Path) -> None:
    """What only some runs need is imported by those runs: the TOML parser when there is a config
    file, subprocess for ssh://, difflib for a missing container's look-alikes (README: make bench)."""
    imported = start_up_imports(plugin, tmp_path)
    assert "nagiosplugin" in imported
    lazy = {"subprocess", "difflib"} | (set() if config.DEFAULT_PATH.exists() else {"tomllib", "tomli"})
    if plugin in TYPING_FREE:  # annotations only need typing for mypy: `if TYPE_CHECKING:` imports
        lazy.add("typing")
    if plugin in DATACLASS_FREE:  # dataclasses imports inspect, ast and dis: 8 ms of a 90 ms run
        lazy |= {"dataclasses", "inspect"}

    assert not imported & lazy


@pytest.mark.parametrize("plugin", DOCKER_PLUGINS)
def test_hostname_is_host_as_monitoring_plugins_users_type_it(plugin: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    cfg = tmp_path / "fleet.toml"
    cfg.write_text("")
    said = {
        flag: run_plugin(plugin, flag, "poller01.invalid", "--config", str(cfg), "-t", "2")
        for flag in ("-H", "--host", "--hostname")
    }
    assert said["-H"].rc == 3 and "tcp://poller01.invalid:2376" in said["-H"].line, said["-H"].out
    assert said["--hostname"].line == said["--host"].line == said["-H"].line


def test_t_bounds_reading_the_config_too(tmp_path: Path) -> None:
    """A --config that never delivers (a FIFO nobody writes, a hung network mount) ends on -t."""
    fifo = tmp_path / "fleet.toml"
    os.mkfifo(fifo)
    r = run_plugin("check_docker_host", "-H", "poller01", "--config", str(fifo), "-t", "1", timeout=30)
    assert (r.rc, r.err) == (3, "")
    assert r.out == f"DOCKER UNKNOWN - config file {fifo} could not be read within 1 s (-t)\n"
