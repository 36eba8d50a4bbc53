"""Test helpers: run a plugin as Centreon would, drive the test Docker daemon with its CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
PLUGINS = ROOT / "plugins"
ENV_SCRIPTS = ROOT / "tests" / "env"
DOCKER_CLI = os.environ.get("DOCKER_CLI", "/usr/bin/docker")
BUSYBOX_IMAGE = "pollerfleet-test/busybox:1"


@dataclass
class Run:
    rc: int
    out: str
    err: str

    @property
    def line(self) -> str:
        return self.out.splitlines()[0] if self.out else ""


def run_plugin(name: str, *args: str, timeout: float = 30, env: dict[str, str] | None = None) -> Run:
    """Run plugins/NAME with this interpreter, as the engine runs it: argv only, no shell."""
    full_env = dict(os.environ)
    full_env.pop("POLLERFLEET_CONFIG", None)
    if env:
        full_env.update(env)
    proc = subprocess.run(
        [sys.executable, str(PLUGINS / name), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        check=False,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


@dataclass
class Docker:
    """The test daemon, driven through Debian's docker CLI; every name gets the session prefix."""

    host: str  # unix:///... of the test daemon
    tcp: str
    prefix: str

    def __call__(self, *args: str, check: bool = True, timeout: float = 120) -> str:
        proc = subprocess.run(
            [DOCKER_CLI, "-H", self.host, *args], capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc.stdout.strip()

    def name(self, base: str) -> str:
        return f"{self.prefix}{base}"

    def run(
        self,
        base: str,
        *args: str,
        cmd: tuple[str, ...] = ("sleep", "100000"),
        image: str = BUSYBOX_IMAGE,
        network: str = "none",
    ) -> str:
        """Start a detached container; return its full name."""
        name = self.name(base)
        self("rm", "-f", name, check=False)
        self("run", "-d", "--name", name, "--network", network, "--init", *args, image, *cmd)
        return name

    def state(self, name: str, fmt: str = "{{.State.Status}}") -> str:
        return self("inspect", "-f", fmt, name)

    def remove_prefixed(self) -> None:
        """Remove this session's containers, then its networks (a daemon has only so many address pools)."""
        ids = self("ps", "-aq", "--filter", f"name=^/{self.prefix}", check=False).split()
        if ids:
            self("rm", "-f", *ids, check=False)
        nets = self("network", "ls", "-q", "--filter", f"name=^{self.prefix}", check=False).split()
        if nets:
            self("network", "rm", *nets, check=False)


def pollerfleet_command(cfg: Path | None, *args: str) -> list[str]:
    """The operator's command line with this interpreter and CFG; with CFG None, ARGS alone (to put
    --config elsewhere, or leave it out). For a test that runs it itself (on a terminal, in the
    background); `pollerfleet()` runs it and waits."""
    config = ("--config", str(cfg)) if cfg is not None else ()
    return [sys.executable, "-m", "pollerfleet", *config, *args]


def pollerfleet(
    cfg: Path | None, *args: str, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the operator's command with this interpreter and CFG, as an operator types it; with CFG
    None, ARGS alone (to put --config elsewhere, or leave it out)."""
    return subprocess.run(
        pollerfleet_command(cfg, *args),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
    )


def handler(name: str, *macros: str, config: Path | None = None) -> list[str]:
    """An event handler's command line as the engine runs it: the plugin NAME, its macros, --config."""
    return [sys.executable, str(PLUGINS / name), *macros, *(("--config", str(config)) if config else ())]


def write_inventory(
    path: Path,
    hosts: dict[str, dict[str, object]],
    group: str = "pollers",
    *,
    other_groups: dict[str, dict[str, dict[str, object]]] | None = None,
    **all_vars: object,
) -> Path:
    """An Ansible YAML inventory at PATH: ALL_VARS for every host, HOSTS (name -> its own variables)
    in GROUP, and OTHER_GROUPS (group -> its hosts, the same way) beside it. Written by a YAML
    library, so a value never needs quoting by hand."""
    import yaml

    groups = {group: hosts, **(other_groups or {})}
    children = {g: {"hosts": {h: v or None for h, v in members.items()}} for g, members in groups.items()}
    doc = {"all": {"vars": all_vars, "children": children}}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def wait_for(predicate: Callable[[], bool], timeout: float = 30, step: float = 0.2, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")


def jenkins_agent_env(cfg: Path, docker_host: str, registry: str, base_image: str, context: Path) -> dict[str, str]:
    """What a Jenkins agent gives every build of the e2e chains: its own variables (the suite
    installed on it, its fleet.toml, the Docker daemon it builds on) and the Jenkinsfiles'
    environment blocks; none of the values a build takes as parameters."""
    agent = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "POLLERFLEET_CONFIG": str(cfg),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCALHOST_WARNING": "0",
        "DOCKER_HOST": docker_host,
        "DOCKER": "/usr/bin/docker",
        "DOCKER_BUILDKIT": "0",
        "DOCKER_BUILD_ARGS": "--network none",
        "BASE_IMAGE": base_image,  # no base image can be pulled here: the tests import theirs
        "REGISTRY_URL": f"http://{registry}",
        "POLLER_BUILD_CONTEXT": str(context),
    }
    for name in ("BUILD_NUMBER", "CENTREON_ENGINE_VERSION", "HOSTNAME", "POLLER_IMAGE", "ACTION"):
        agent.pop(name, None)
    return agent


def env_script(script: str, *args: str) -> dict[str, str]:
    """Run tests/env/SCRIPT ARGS (start what it starts, or reuse it); return what `SCRIPT env` prints."""
    if args:
        subprocess.run(["bash", str(ENV_SCRIPTS / script), *args], check=True, timeout=180)
    out = subprocess.run(["bash", str(ENV_SCRIPTS / script), "env"], check=True, capture_output=True, text=True)
    return dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(str(value))  # a TOML basic string


def write_fleet_config(
    directory: Path,
    *,
    jenkins_url: str = "",
    token: str = "",
    registry_address: str = "",
    inventory: Path | None = None,
    **sections: dict[str, object],
) -> Path:
    """DIRECTORY/fleet.toml for a test: [jenkins] with its token in a private file, [registry] for
    the plain test registry, [fleet] with state and audit log under DIRECTORY; SECTIONS add or
    override keys, e.g. redeploy={"budget": 3}."""
    doc: dict[str, dict[str, object]] = {}
    if registry_address:
        doc["registry"] = {
            "url": f"http://{registry_address}",
            "allow_http": True,
            "cache_dir": str(directory / "cache"),
        }
    if jenkins_url:
        token_file = directory / "jenkins.token"
        token_file.write_text(token + "\n")
        token_file.chmod(0o600)
        doc["jenkins"] = {"url": jenkins_url, "user": "pollerfleet", "token_file": str(token_file), "timeout": 5}
        if jenkins_url.startswith("http://"):
            doc["jenkins"]["allow_http"] = True  # the stand-in on 127.0.0.1
    doc["fleet"] = {"state_dir": str(directory / "state"), "audit_log": str(directory / "audit.log")}
    if inventory is not None:
        doc["fleet"]["inventory"] = str(inventory)
    for name, keys in sections.items():
        doc.setdefault(name, {}).update(keys)
    path = directory / "fleet.toml"
    path.write_text(
        "".join(f"[{name}]\n" + "".join(f"{k} = {_toml(v)}\n" for k, v in keys.items()) for name, keys in doc.items())
    )
    return path
