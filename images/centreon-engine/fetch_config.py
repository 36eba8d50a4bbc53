#!/usr/bin/env python3
"""pollerfleet-fetch-config: fetch this poller's engine configuration from the central over SSH,
verify it, and only then swap it in atomically; keep the last good one when anything fails.

Runs as the container's entrypoint before supervisord (the seed's "own little python client").
Python >= 3.6, standard library only (CentOS 7's python3). No shell anywhere.

Layout on the host mount CONFIG_DIR (default /etc/centreon-engine):
    releases/<UTC time>/   verified configurations, newest kept (KEEP_RELEASES, default 3)
    current -> releases/<...>   what the engine runs (centengine.cfg inside)

Environment:
    CENTRAL_HOST (required), CENTRAL_PORT (22), CENTRAL_USER (centreon)
    POLLER_NAME (default: the host name)
    REMOTE_CONFIG_DIR (/var/cache/centreon/config/engine/{poller}): {poller} = POLLER_NAME
    SSH_KEY (/etc/pollerfleet/ssh/id_ed25519), KNOWN_HOSTS (/etc/pollerfleet/ssh/known_hosts)
    VERIFY_COMMAND ("centengine -v {config}/centengine.cfg"): {config} = the fetched tree; "" = none
    FETCH_ATTEMPTS (5), FETCH_BACKOFF (2 seconds, doubled each time, at most 60), FETCH_TIMEOUT (120)

Exit 0 when a configuration is in place (fresh, or the last good one: said loudly on stderr),
2 when there is none at all.
"""

import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time

LOG_PREFIX = "pollerfleet-fetch-config:"


def log(message):
    sys.stderr.write(f"{LOG_PREFIX} {message}\n")
    sys.stderr.flush()


def env(name, default=None):
    value = os.environ.get(name, "")
    return value if value != "" else default


class FetchError(Exception):
    pass


def ssh_command(port, key, known_hosts):
    # rsync splits this string itself (no shell); paths with spaces are refused below
    return " ".join(
        [
            "ssh",
            "-p",
            str(port),
            "-i",
            key,
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            f"UserKnownHostsFile={known_hosts}",
            "-o",
            "ConnectTimeout=15",
            "-o",
            "ServerAliveInterval=10",
        ]
    )


def fetch(staging, source, ssh, timeout):
    # --checksum: a regenerated file of the same size within the same second must not be skipped
    argv = [
        "rsync",
        "-a",
        "--checksum",
        "--delete",
        f"--timeout={int(timeout)}",
        "-e",
        ssh,
        source + "/",
        staging + "/",
    ]
    try:
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout + 30)
    except subprocess.TimeoutExpired:
        raise FetchError(f"the transfer did not finish within {timeout} s") from None
    except OSError as exc:
        raise FetchError(f"cannot run rsync: {exc}") from None
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace")
        if "Host key verification failed" in err or "REMOTE HOST IDENTIFICATION HAS CHANGED" in err:
            raise FetchError("the central's SSH host key is not the one in KNOWN_HOSTS: refused")
        if "Connection refused" in err or "Connection timed out" in err or "No route to host" in err:
            raise FetchError(f"the central is unreachable ({_first(err)})")
        raise FetchError(f"rsync failed with exit code {proc.returncode}: {_first(err)}")
    if not os.listdir(staging):
        raise FetchError("the central sent an empty configuration")


def verify(tree, command, timeout):
    if not command:
        return
    argv = [part.replace("{config}", tree) for part in shlex.split(command)]
    try:
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise FetchError(f"verification command failed to run: {exc}") from None
    if proc.returncode != 0:
        raise FetchError(
            "verification failed (exit {}): {}".format(proc.returncode, _last(proc.stdout.decode("utf-8", "replace")))
        )


def _first(text):
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0][:200] if lines else "no message"


def _last(text):
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:200] if lines else "no message"


def install(config_dir, staging, keep):
    """Move the verified tree into releases/ and switch `current` to it atomically."""
    releases = os.path.join(config_dir, "releases")
    os.makedirs(releases, exist_ok=True)
    name = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + f"-{os.getpid()}"
    target = os.path.join(releases, name)
    os.rename(staging, target)
    link = os.path.join(config_dir, "current")
    tmp_link = link + f".new-{os.getpid()}"
    os.symlink(os.path.join("releases", name), tmp_link)
    os.replace(tmp_link, link)  # rename(2): the engine sees the old tree or the new one, never half
    old = sorted(d for d in os.listdir(releases) if d != name)
    for stale in old[: max(0, len(old) - (keep - 1))]:
        shutil.rmtree(os.path.join(releases, stale), ignore_errors=True)
    return target


def current(config_dir):
    link = os.path.join(config_dir, "current")
    return os.path.realpath(link) if os.path.isdir(link) else None


def main():
    central = env("CENTRAL_HOST")
    poller = env("POLLER_NAME", socket.gethostname())
    config_dir = env("CONFIG_DIR", "/etc/centreon-engine")
    if not central:
        log("CENTRAL_HOST is not set")
        return finish(config_dir, "no central to fetch from")
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9.-]*$", central) or not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*$", poller):
        log("CENTRAL_HOST or POLLER_NAME has characters a host name cannot have")
        return finish(config_dir, "invalid CENTRAL_HOST/POLLER_NAME")
    port = int(env("CENTRAL_PORT", "22"))
    user = env("CENTRAL_USER", "centreon")
    remote = env("REMOTE_CONFIG_DIR", "/var/cache/centreon/config/engine/{poller}").replace("{poller}", poller)
    key = env("SSH_KEY", "/etc/pollerfleet/ssh/id_ed25519")
    known = env("KNOWN_HOSTS", "/etc/pollerfleet/ssh/known_hosts")
    for path in (key, known, remote, config_dir):
        if any(c.isspace() for c in path):
            log(f"paths may not contain white space: {path!r}")
            return finish(config_dir, "bad path")
    verify_cmd = os.environ.get("VERIFY_COMMAND", "centengine -v {config}/centengine.cfg")
    attempts = int(env("FETCH_ATTEMPTS", "5"))
    backoff = float(env("FETCH_BACKOFF", "2"))
    timeout = float(env("FETCH_TIMEOUT", "120"))
    keep = max(1, int(env("KEEP_RELEASES", "3")))
    ssh = ssh_command(port, key, known)
    source = f"{user}@{central}:{remote}"

    os.makedirs(config_dir, exist_ok=True)
    delay = backoff
    for attempt in range(1, attempts + 1):
        staging = os.path.join(config_dir, f".staging-{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        base = current(config_dir)
        if base:  # start from the last good tree: rsync then moves only what changed
            shutil.copytree(base, staging, symlinks=True)
        else:
            os.makedirs(staging)
        try:
            fetch(staging, source, ssh, timeout)
            verify(staging, verify_cmd, timeout)
            target = install(config_dir, staging, keep)
            log(f"configuration of {poller} fetched from {central} and verified: {target}")
            return 0
        except FetchError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            log(f"attempt {attempt}/{attempts}: {exc}")
            if "host key" in str(exc):
                break  # a wrong host key does not fix itself: do not retry
            if attempt < attempts:
                time.sleep(delay)
                delay = min(delay * 2, 60)
    return finish(config_dir, "fetching failed")


def finish(config_dir, why):
    good = current(config_dir)
    if good:
        log(
            "WARNING: {}; the engine starts with the LAST GOOD configuration {} (from {})".format(
                why, good, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(os.path.getmtime(good)))
            )
        )
        return 0
    log(f"ERROR: {why} and there is no previous configuration in {config_dir}: the engine cannot start")
    return 2


if __name__ == "__main__":
    sys.exit(main())
