"""Config loading: one sentence naming the file and the key for every mistake."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pollerfleet.core import config


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "fleet.toml"
    p.write_text(text)
    return p


def test_defaults_when_default_file_absent(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(config.ENV_VAR, raising=False)
    monkeypatch.setattr(config, "DEFAULT_PATH", tmp_path / "absent.toml")
    cfg = config.load()
    assert cfg.path is None and cfg.docker.port == 2376 and cfg.docker.tls is True


def test_full_file(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        """
[docker]
port = 2377
tls_dir = "/etc/pollerfleet/tls"
timeout = 5
[registry]
url = "https://registry.example:5000"
password_file = "/etc/pollerfleet/registry.password"
[jenkins]
url = "https://jenkins.example"
user = "pollerfleet"
token_file = "/etc/pollerfleet/jenkins.token"
[fleet]
inventory = "/etc/ansible/inventory/pollers.ini"
""",
    )
    cfg = config.load(str(p))
    assert cfg.docker.port == 2377 and cfg.docker.timeout == 5.0
    assert cfg.docker.tls_dir == Path("/etc/pollerfleet/tls")
    assert cfg.jenkins.token_file == Path("/etc/pollerfleet/jenkins.token")
    assert cfg.fleet.inventory == Path("/etc/ansible/inventory/pollers.ini")
    assert cfg.jenkins.deploy_job == "deploy-centreon-poller"


def test_env_var_names_the_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    p = write(tmp_path, "[docker]\nport = 2400\n")
    monkeypatch.setenv(config.ENV_VAR, str(p))
    assert config.load().docker.port == 2400


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[docker]\nport = 'x'\n", "[docker] port must be a whole number"),
        ("[docker]\nport = 0\n", "[docker] port must be from 1 to 65535"),
        ("[docker]\ntls = 'yes'\n", "[docker] tls must be true or false"),
        ("[docker]\ntimeout = -1\n", "[docker] timeout must be a positive number"),
        (
            "[dokcer]\n",
            "unknown section [dokcer] (known: docker, fleet, jenkins, redeploy, registry, rollout, upstream)",
        ),
        ("[jenkins]\ntoken = 'abc'\n", "unknown key 'token' in [jenkins]"),
        ("[jenkins]\ntoken_file = ''\n", "[jenkins] token_file must be a non-empty path string"),
        ("docker = 1\n", "[docker] must be a table"),
        ("[docker\n", "is not valid TOML"),
        ("[redeploy]\nlock_timeout = nan\n", "[redeploy] lock_timeout must be a finite number, not nan"),
        ("[docker]\ntimeout = inf\n", "[docker] timeout must be a finite number, not inf"),
        ("[redeploy]\ncooldown_minutes = -inf\n", "[redeploy] cooldown_minutes must be a finite number, not -inf"),
    ],
)
def test_errors_name_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    p = write(tmp_path, text)
    with pytest.raises(config.ConfigError) as err:
        config.load(str(p))
    assert str(err.value).startswith(f"config file {p}")
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_named_file_missing(tmp_path: Path) -> None:
    with pytest.raises(config.ConfigError, match=r"config file .*/nope.toml does not exist"):
        config.load(str(tmp_path / "nope.toml"))


def test_secret_is_read_from_a_private_file(tmp_path: Path) -> None:
    p = tmp_path / "token"
    p.write_text("s3cr3t-token\nignored\n")
    p.chmod(0o600)
    assert config.read_secret(p, "Jenkins API token") == "s3cr3t-token"


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("missing", "does not exist"),
        ("empty", "is empty"),
        ("world", "is readable by every user; chmod 600 or 640 it first"),
        ("dir", "is not a regular file"),
    ],
)
def test_secret_refusals_never_show_the_secret(tmp_path: Path, setup: str, message: str) -> None:
    p = tmp_path / "token"
    if setup == "empty":
        p.write_text("\n")
        p.chmod(0o600)
    elif setup == "world":
        p.write_text("s3cr3t-token\n")
        os.chmod(p, 0o644)
    elif setup == "dir":
        p.mkdir()
    with pytest.raises(config.ConfigError) as err:
        config.read_secret(p, "Jenkins API token")
    assert message in str(err.value)
    assert "s3cr3t" not in str(err.value)


def test_no_secret_file_configured() -> None:
    with pytest.raises(config.ConfigError, match="no file is configured for the registry password"):
        config.read_secret(None, "registry password")


def test_redeploy_rules(tmp_path: Path) -> None:
    p = write(tmp_path, "[redeploy]\ncooldown_minutes = 10\nbudget = 5\nsoft_attempt = 2\n")
    r = config.load(str(p)).redeploy
    assert (r.cooldown_minutes, r.budget, r.hourly_cap, r.breaker_failures, r.soft_attempt) == (10.0, 5, 10, 3, 2)
    with pytest.raises(config.ConfigError, match=r"\[redeploy\] budget must be a positive number"):
        config.load(str(write(tmp_path, "[redeploy]\nbudget = 0\n")))
