"""The suite's configuration: one TOML file, secrets only by reference to files.

Looked up in this order: ``--config PATH``, ``$POLLERFLEET_CONFIG``, ``/etc/pollerfleet/fleet.toml``.
A missing default file is not an error (every value has a default, so a plugin runs with its
options alone); a missing file that was named explicitly is. Every error is one sentence naming
the file and the key.
"""

from __future__ import annotations

import math
import os
import stat
import sys
from pathlib import Path

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing at a plugin's start-up
if TYPE_CHECKING:
    from dataclasses import dataclass, field
    from typing import Any, Optional
else:  # every plugin run builds these: spared the dataclasses module's start-up cost (see core.record)
    from pollerfleet.core.record import dataclass, field

DEFAULT_PATH = Path("/etc/pollerfleet/fleet.toml")
ENV_VAR = "POLLERFLEET_CONFIG"


class ConfigError(Exception):
    """The configuration cannot be used; the message is one sentence for the operator."""


@dataclass(frozen=True)
class DockerSettings:
    """How to reach each poller host's Docker Engine API."""

    port: int = 2376
    """The port of the Docker Engine API when a check names a host with -H HOST (tcp://HOST:PORT)."""
    tls: bool = True
    """Speak TLS with client certificates to every tcp:// daemon; plain TCP only when false or with --no-tls (the API is
    root on the host)."""
    tls_dir: Optional[Path] = None
    """The directory with ca.pem, cert.pem and key.pem: the client side of dockerd --tlsverify (a check's --tls-dir
    overrides it)."""
    timeout: float = 10.0
    """Seconds to wait for a daemon where no -t/--timeout is given."""
    api_version: str = ""
    """The Docker API version to ask for, e.g. "1.41"; "" = the daemon's own version, no negotiation round trip."""
    ssh_config: Optional[Path] = None
    """An ssh -F file for ssh:// Docker URLs (keys, known_hosts, user)."""


@dataclass(frozen=True)
class RegistrySettings:
    """The private registry the images are pushed to."""

    url: str = ""
    """The private registry the pollers pull from (https://; http:// only with allow_http). Credentials go only to this
    registry; without it a check asks the registry of the running image reference anonymously."""
    repository: str = "centreon/centreon-engine"
    """The image repository of the poller (also where the built images are pushed); the inventory's
    poller_image_repository overrides it per host."""
    username: str = ""
    """The registry user (basic auth, or the bearer-token flow the registry asks for)."""
    password_file: Optional[Path] = None
    """The file holding the registry password (its first line); a regular file others cannot read (mode 0600/0640)."""
    ca_file: Optional[Path] = None
    """The CA of a private registry's certificate (TLS is always verified)."""
    allow_http: bool = False
    """Allow a plain-HTTP registry url, and a bearer-token service on plain HTTP."""
    token_hosts: list[str] = field(default_factory=list)
    """Token services on other hosts than the registry that may receive the credentials."""
    timeout: float = 10.0
    """Seconds to wait for each registry request."""
    cache_dir: Path = Path("/var/cache/pollerfleet")
    """Where the registry's answers and the parsed inventory are cached; writable by the engine's user, or every check
    parses the whole inventory."""
    cache_ttl: int = 300
    """Seconds a registry answer is reused per repository (a check's --cache-ttl overrides it)."""
    release_line: str = ""
    """The fleet's version policy: the release line followed, e.g. "19.04" (19.04.* never jumps to 19.10); "" = any. For
    the check, the handler, reconcile and the deploy alike; the check's --release-line overrides it for one run."""
    include: str = ""
    """Version policy: only tags matching this regular expression count as releases; "" = every version tag."""
    exclude: str = ""
    """Version policy: tags matching this regular expression never count as releases; "" = none excluded."""


@dataclass(frozen=True)
class JenkinsSettings:
    """The Jenkins that builds images and deploys pollers."""

    url: str = ""
    """The Jenkins that runs the build and deploy jobs (https://; http:// only with allow_http)."""
    user: str = ""
    """The Jenkins user (Overall/Read, Job/Read, Job/Build on the two jobs only)."""
    token_file: Optional[Path] = None
    """The file holding the user's API token (its first line); a regular file others cannot read."""
    ca_file: Optional[Path] = None
    """The CA of Jenkins' certificate (TLS is always verified, PYTHONHTTPSVERIFY=0 changes nothing)."""
    allow_http: bool = False
    """Allow a Jenkins without TLS: the API token travels in clear over http://."""
    timeout: float = 15.0
    """Seconds to wait for each Jenkins request."""
    deploy_job: str = "deploy-centreon-poller"
    """The job that deploys one poller host (jenkins/deploy-poller.sh)."""
    deploy_parameter: str = "HOSTNAME"
    """The deploy job's parameter that names the host."""
    build_job: str = "build-centreon-poller"
    """The job that builds a poller image (jenkins/build-poller.sh)."""
    build_parameter: str = "CENTREON_ENGINE_VERSION"
    """The build job's parameter that names the centreon-engine version."""
    promote_job: str = "promote-centreon-poller"
    """The job that moves canary promotion\'s registry tags (jenkins/promote-poller.sh)."""


@dataclass(frozen=True)
class FleetSettings:
    """Where the fleet's host list lives (the Ansible inventory's ``pollers`` group)."""

    inventory: Optional[Path] = None
    """The Ansible inventory file (INI or YAML/JSON) whose group is the fleet, read with its group_vars/ and
    host_vars/."""
    group: str = "pollers"
    """The inventory group that is the fleet; a redeploy is refused for a host outside it."""
    state_dir: Path = Path("/var/lib/pollerfleet")
    """The redeploy state (cooldowns, breaker latch, decision lock) and the promotion state; owned by the engine's
    user."""
    audit_log: Path = Path("/var/log/pollerfleet/audit.log")
    """One JSON line per redeploy, rebuild or promotion decision."""
    command_file: Path = Path("/var/lib/centreon-engine/rw/centengine.cmd")
    """The engine's external command pipe, where sweep --submit writes passive results."""


@dataclass(frozen=True)
class RedeploySettings:
    """The rules every automatic redeploy obeys (event handler, reconcile, manual)."""

    cooldown_minutes: float = 30.0
    """Minutes a host waits after a trigger before it may be redeployed again (redeploy --force skips it)."""
    budget: int = 3
    """Deploy builds queued + running at once, fleet-wide, counted in Jenkins."""
    hourly_cap: int = 10
    """Triggers per rolling hour, fleet-wide."""
    breaker_failures: int = 3
    """Consecutive failed deploy builds (no-progress included) that stop automatic redeploys until pollerfleet breaker
    reset."""
    soft_attempt: int = 0
    """Act on a SOFT CRITICAL from this check attempt on; 0 = HARD states only."""
    lock_timeout: float = 20.0
    """Seconds to wait for another handler's decision (the local decision lock)."""
    handler_deadline: float = 25.0
    """Seconds one whole handler run may take, below the engine's event_handler_timeout (30 s by default in Centreon and
    Nagios): the handler ends itself, audited, instead of being killed."""


@dataclass(frozen=True)
class RolloutSettings:
    """Canary promotion (images/promotion.py): how long every canary (``poller_canary: true`` in the
    inventory) must run a new image healthy before the rest of the fleet gets it."""

    soak_minutes: float = 30.0
    """Minutes every canary must run a new image healthy (no restart, no rollback, no no-progress deploy) before the
    rest of the fleet gets it."""
    channel_tag: str = "promoted"
    """The registry tag that names the last promoted image of a repository."""


@dataclass(frozen=True)
class UpstreamSettings:
    """The upstream Centreon package repositories the release watch reads (RPM-md)."""

    urls: list[str] = field(default_factory=list)
    """The upstream RPM-md repositories (several allowed) the release watch reads; empty = no release watch, and
    reconcile asks for no rebuild."""
    package: str = "centreon-engine"
    """The package whose newest upstream version should have an image."""
    release_line: str = ""
    """The release line the fleet follows, e.g. "19.04"; "" = any."""
    allow_http: bool = False
    """Allow http:// repositories (their metadata could be altered on the way)."""
    timeout: float = 20.0
    """Seconds to wait for each upstream request."""
    max_download_mb: int = 200
    """The bound on one primary metadata file, in MiB."""


@dataclass(frozen=True)
class Config:
    """The whole configuration, with the file it came from (None: built-in defaults)."""

    path: Optional[Path] = None
    docker: DockerSettings = field(default_factory=DockerSettings)
    registry: RegistrySettings = field(default_factory=RegistrySettings)
    jenkins: JenkinsSettings = field(default_factory=JenkinsSettings)
    fleet: FleetSettings = field(default_factory=FleetSettings)
    redeploy: RedeploySettings = field(default_factory=RedeploySettings)
    upstream: UpstreamSettings = field(default_factory=UpstreamSettings)
    rollout: RolloutSettings = field(default_factory=RolloutSettings)


_SECTIONS: dict[str, type[Any]] = {
    "docker": DockerSettings,
    "registry": RegistrySettings,
    "jenkins": JenkinsSettings,
    "fleet": FleetSettings,
    "redeploy": RedeploySettings,
    "upstream": UpstreamSettings,
    "rollout": RolloutSettings,
}


def resolve_path(explicit: Optional[str] = None) -> tuple[Path, bool]:
    """Return the config path to read and whether the operator named it explicitly."""
    if explicit:
        return Path(explicit), True
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env), True
    return DEFAULT_PATH, False


def load(explicit: Optional[str] = None) -> Config:
    """Read the configuration; raise ConfigError with one sentence on any problem."""
    path, named = resolve_path(explicit)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if named:
            raise ConfigError(f"config file {path} does not exist") from None
        return Config()
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror}") from None
    # the TOML parser only when there is a file to parse: a plugin run without one is spared its import
    if sys.version_info >= (3, 11):
        import tomllib  # novermin - guarded by the version test above
    else:  # pragma: no cover - exercised on Python < 3.11 only
        import tomli as tomllib
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    return parse(data, path)


def parse(data: dict[str, Any], path: Path) -> Config:
    """Build a Config from parsed TOML, checking every key and type."""
    unknown = sorted(set(data) - set(_SECTIONS))
    if unknown:
        raise ConfigError(f"config file {path}: unknown section [{unknown[0]}] (known: {', '.join(sorted(_SECTIONS))})")
    sections: dict[str, Any] = {}
    for name, cls in _SECTIONS.items():
        table = data.get(name, {})
        if not isinstance(table, dict):
            raise ConfigError(f"config file {path}: [{name}] must be a table")
        sections[name] = _build_section(cls, name, table, path)
    return Config(path=path, **sections)


def _build_section(cls: type[Any], name: str, table: dict[str, Any], path: Path) -> Any:
    from pollerfleet.core.record import fields

    known = {f.name: f for f in fields(cls)}
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in known:
            raise ConfigError(
                f"config file {path}: unknown key {key!r} in [{name}] (known: {', '.join(sorted(known))})"
            )
        values[key] = _coerce(known[key].type, value, f"[{name}] {key}", path)
    if "port" in values and not 1 <= values["port"] <= 65535:
        raise ConfigError(f"config file {path}: [{name}] port must be from 1 to 65535")
    positive = ("timeout", "lock_timeout", "handler_deadline", "budget", "hourly_cap", "breaker_failures")
    for key in (*positive, "max_download_mb"):
        if key in values and values[key] <= 0:
            raise ConfigError(f"config file {path}: [{name}] {key} must be a positive number")
    for key in ("cooldown_minutes", "soft_attempt", "soak_minutes"):
        if key in values and values[key] < 0:
            raise ConfigError(f"config file {path}: [{name}] {key} must not be negative")
    return cls(**values)


def _coerce(annotation: Any, value: Any, where: str, path: Path) -> Any:
    text = str(annotation)
    if text.startswith("list"):
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ConfigError(f"config file {path}: {where} must be a list of non-empty strings")
        return list(value)
    if "Path" in text:
        if not isinstance(value, str) or not value:
            raise ConfigError(f"config file {path}: {where} must be a non-empty path string")
        return Path(value)
    if text == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"config file {path}: {where} must be true or false")
        return value
    if text == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"config file {path}: {where} must be a whole number")
        return value
    if text == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"config file {path}: {where} must be a number")
        if not math.isfinite(value):  # TOML has nan and inf: a wait or a limit must be a real number
            raise ConfigError(f"config file {path}: {where} must be a finite number, not {value}")
        return float(value)
    if not isinstance(value, str):
        raise ConfigError(f"config file {path}: {where} must be a string")
    return value


def read_secret(path: Optional[Path], what: str) -> str:
    """Read a secret (password, API token) from the file the config names.

    The file must be a regular file that others cannot read; the value is its first line,
    stripped. The secret itself never appears in an error message.
    """
    if path is None:
        raise ConfigError(f"no file is configured for the {what}")
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ConfigError(f"the {what} file {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"the {what} file {path} cannot be read: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(f"the {what} file {path} is not a regular file")
    if st.st_mode & stat.S_IROTH:
        raise ConfigError(f"the {what} file {path} is readable by every user; chmod 600 or 640 it first")
    try:
        first = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        raise ConfigError(f"the {what} file {path} cannot be read as text") from None
    secret = first[0].strip() if first else ""
    if not secret:
        raise ConfigError(f"the {what} file {path} is empty")
    return secret
