#!/usr/bin/env python3
"""pollerfleet-fetch-config: fetch this poller's engine and broker configuration from the central
over SSH, verify it, and only then swap it in atomically; keep the last good one when anything fails.

Runs as the container's entrypoint before supervisord (the seed's "own little python client"), and
as supervisord's `config-push` program (--watch-push): it applies what the central pushed through the
container's sshd as the `centreon` user (images/centreon-engine/poller-push) the same way.
Python >= 3.6, standard library only (CentOS 7's python3). No shell anywhere.

Layout on the host mount CONFIG_DIR (default /etc/centreon-engine):
    releases/<UTC time>/   verified configurations, newest kept (KEEP_RELEASES, default 3):
                           the engine's files at the top, the broker's in broker/
    current -> releases/<...>   what the engine runs (centengine.cfg inside)

Centreon 19.04 generates /usr/share/centreon/filesGeneration/engine/<poller id>/ and
.../broker/<poller id>/ (20.04 and later: /var/cache/centreon/config/..., REMOTE_BASE_DIR), and
its centengine.cfg names files by absolute path under the poller's configured directories
(ENGINE_CONFIG_PATH, BROKER_CONFIG_PATH). Those paths are rewritten: to the staged copy while it is
verified (so the verification reads the new files, not the running ones), then to current/.

Environment:
    CENTRAL_HOST (required), CENTRAL_PORT (22)
    CENTRAL_USER (pollerfleet-fetch: the central's read-only fetch account, whose key line serves
                 this poller's two directories only; see ansible/roles/centreon_central_fetch)
    POLLER_ID (the poller's id in Centreon; needed by the default remote directories)
    POLLER_NAME (default: the host name)
    REMOTE_BASE_DIR (/usr/share/centreon/filesGeneration, Centreon 19.04; /var/cache/centreon/config
                 for 20.04 and later): where the central generates every poller's configuration
    REMOTE_CONFIG_DIR (REMOTE_BASE_DIR/engine/{poller_id}); {poller} = POLLER_NAME
    REMOTE_BROKER_DIR (REMOTE_BASE_DIR/broker/{poller_id}); "" = no broker configuration
    ENGINE_CONFIG_PATH (/etc/centreon-engine), BROKER_CONFIG_PATH (/etc/centreon-broker)
    SSH_KEY (/etc/pollerfleet/ssh/id_ed25519), KNOWN_HOSTS (/etc/pollerfleet/ssh/known_hosts)
    SSH_CONFIG (an ssh_config file for the transfer; default none)
    VERIFY_COMMAND ("centengine -v {config}/centengine.cfg"): {config} = the staged tree; "" = none
    FETCH_ATTEMPTS (5), FETCH_BACKOFF (2 seconds, doubled each time, at most 60), FETCH_TIMEOUT (120)
    PUSH_DIR (/var/spool/centreon-push): where the central's pushes land (--watch-push)
    STATUS_FILE (none): where the reason goes when there is no configuration at all

Exit 0 when a configuration is in place (fresh, or the last good one: said loudly on stderr),
2 when there is none at all.
"""

import errno
import os
import re
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time

LOG_PREFIX = "pollerfleet-fetch-config:"
MAIN_FILE = "centengine.cfg"
BROKER_SUBDIR = "broker"
# main-file directives whose values (or, for broker_module, arguments) name configuration files
PATH_DIRECTIVES = ("cfg_file", "cfg_dir", "resource_file", "broker_module")
# where Centreon 19.04 generates each poller's files (www/class/config-generate/backend.class.php);
# 20.04 and later: /var/cache/centreon/config (REMOTE_BASE_DIR)
GENERATION_DIR_19_04 = "/usr/share/centreon/filesGeneration"
# the central's read-only fetch account (ansible/roles/centreon_central_fetch), not `centreon`
FETCH_USER = "pollerfleet-fetch"


def log(message):
    sys.stderr.write(f"{LOG_PREFIX} {message}\n")
    sys.stderr.flush()


class FetchError(Exception):
    pass


class BadEnvironment(Exception):
    pass


def env(name, default=None):
    value = os.environ.get(name, "")
    return value if value != "" else default


def env_int(name, default, low, high):
    raw = env(name, str(default))
    if not re.match(r"^[0-9]+$", raw) or not low <= int(raw) <= high:
        raise BadEnvironment(f"{name}={raw!r} is not a whole number from {low} to {high}")
    return int(raw)


def env_seconds(name, default, low, high):
    raw = env(name, str(default))
    if not re.match(r"^[0-9]+(\.[0-9]+)?$", raw) or not low <= float(raw) <= high:
        raise BadEnvironment(f"{name}={raw!r} is not a number of seconds from {low} to {high}")
    return float(raw)


def env_path(name, default, value=None):
    value = env(name, default) if value is None else value
    if value and (not value.startswith("/") or any(c.isspace() for c in value) or "/../" in value + "/"):
        raise BadEnvironment(f"{name}={value!r} must be an absolute path without white space or '..'")
    return value


def settings(fetching=True):
    """Every environment value, checked before anything is used (the central's only when FETCHING)."""
    s = {}
    s["config_dir"] = env_path("CONFIG_DIR", "/etc/centreon-engine")
    s["central"] = env("CENTRAL_HOST", "")
    s["poller"] = env("POLLER_NAME", socket.gethostname())
    s["poller_id"] = env("POLLER_ID", "")
    if s["central"] and not re.match(r"^[A-Za-z0-9][A-Za-z0-9.-]*$", s["central"]):
        raise BadEnvironment(f"CENTRAL_HOST={s['central']!r} is not a host name")
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*$", s["poller"]):
        raise BadEnvironment(f"POLLER_NAME={s['poller']!r} is not a host name")
    if s["poller_id"] and not re.match(r"^[0-9]{1,9}$", s["poller_id"]):
        raise BadEnvironment(f"POLLER_ID={s['poller_id']!r} is not a Centreon poller id (a number)")
    s["port"] = env_int("CENTRAL_PORT", 22, 1, 65535)
    s["user"] = env("CENTRAL_USER", FETCH_USER)
    if not re.match(r"^[a-z_][a-z0-9_.-]*$", s["user"]):
        raise BadEnvironment(f"CENTRAL_USER={s['user']!r} is not a user name")
    base = env_path("REMOTE_BASE_DIR", GENERATION_DIR_19_04, None if fetching else "").rstrip("/")
    for key, name, default in (
        ("remote", "REMOTE_CONFIG_DIR", base + "/engine/{poller_id}"),
        ("remote_broker", "REMOTE_BROKER_DIR", base + "/broker/{poller_id}"),
    ):
        template = os.environ.get(name, default) if fetching else ""
        if "{poller_id}" in template and not s["poller_id"]:
            raise BadEnvironment(f"POLLER_ID is not set and {name} needs it ({template})")
        s[key] = env_path(name, "", template.replace("{poller_id}", s["poller_id"]).replace("{poller}", s["poller"]))
    if fetching and not s["remote"]:
        raise BadEnvironment("REMOTE_CONFIG_DIR is empty")
    s["engine_path"] = env_path("ENGINE_CONFIG_PATH", "/etc/centreon-engine").rstrip("/")
    s["broker_path"] = env_path("BROKER_CONFIG_PATH", "/etc/centreon-broker").rstrip("/")
    s["key"] = env_path("SSH_KEY", "/etc/pollerfleet/ssh/id_ed25519")
    s["known"] = env_path("KNOWN_HOSTS", "/etc/pollerfleet/ssh/known_hosts")
    s["ssh_config"] = env_path("SSH_CONFIG", "")
    s["verify"] = os.environ.get("VERIFY_COMMAND", "centengine -v {config}/" + MAIN_FILE)
    try:
        shlex.split(s["verify"])
    except ValueError as exc:
        raise BadEnvironment(f"VERIFY_COMMAND cannot be split into words: {exc}") from None
    s["attempts"] = env_int("FETCH_ATTEMPTS", 5, 1, 100)
    s["backoff"] = env_seconds("FETCH_BACKOFF", 2, 0, 600)
    s["timeout"] = env_seconds("FETCH_TIMEOUT", 120, 1, 3600)
    s["keep"] = env_int("KEEP_RELEASES", 3, 1, 100)
    s["push_dir"] = env_path("PUSH_DIR", "/var/spool/centreon-push")
    return s


def ssh_command(s):
    # rsync splits this string itself (no shell); paths with white space are refused in settings()
    argv = ["ssh", "-p", str(s["port"]), "-i", s["key"]]
    if s["ssh_config"]:
        argv += ["-F", s["ssh_config"]]
    argv += [
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        f"UserKnownHostsFile={s['known']}",
        "-o",
        "ConnectTimeout=15",
        "-o",
        "ServerAliveInterval=10",
    ]
    return " ".join(argv)


def rsync(source, target, ssh, timeout, extra=()):
    # -rlt, not -a: owners, groups, devices and special files chosen by the central are not kept;
    # --safe-links drops links pointing out of the tree. --checksum: a regenerated file of the same
    # size within the same second must not be skipped.
    argv = [
        "rsync",
        "--recursive",
        "--links",
        "--safe-links",
        "--times",
        "--no-owner",
        "--no-group",
        "--no-devices",
        "--no-specials",
        "--chmod=Du=rwx,Dgo=rx,Fu=rw,Fgo=r",
        "--checksum",
        "--delete",
        f"--timeout={int(timeout)}",
        *extra,
        "-e",
        ssh,
        source + "/",
        target + "/",
    ]
    try:
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout + 30)
    except subprocess.TimeoutExpired:
        raise FetchError(f"the transfer did not finish within {timeout:g} s") from None
    except OSError as exc:
        raise FetchError(f"cannot run rsync: {exc}") from None
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace")
        if "Host key verification failed" in err or "REMOTE HOST IDENTIFICATION HAS CHANGED" in err:
            raise FetchError("the central's SSH host key is not the one in KNOWN_HOSTS: refused")
        if "Connection refused" in err or "Connection timed out" in err or "No route to host" in err:
            raise FetchError(f"the central is unreachable ({_first(err)})")
        refused = re.search(r"pollerfleet-fetch-serve: (refused: .*)", err)
        if refused:  # the central's forced command (centreon_central_fetch) said why
            raise FetchError(f"the central {refused.group(1)[:300]}")
        if "Permission denied (publickey" in err:
            raise FetchError(
                "the central refused this poller's key (not in the fetch account's authorized_keys, "
                "or not from this poller's address)"
            )
        raise FetchError(f"rsync failed with exit code {proc.returncode}: {_first(err)} (from {source})")


def fetch(staging, s):
    ssh = ssh_command(s)
    where = f"{s['user']}@{s['central']}:"
    # the engine's tree at the top; broker/ is the broker's, so the engine transfer leaves it alone
    rsync(where + s["remote"], staging, ssh, s["timeout"], extra=(f"--exclude=/{BROKER_SUBDIR}/",))
    if not os.path.isfile(os.path.join(staging, MAIN_FILE)):
        raise FetchError(f"the central sent no {MAIN_FILE} in {s['remote']}")
    if s["remote_broker"]:
        os.makedirs(os.path.join(staging, BROKER_SUBDIR), exist_ok=True)
        rsync(where + s["remote_broker"], os.path.join(staging, BROKER_SUBDIR), ssh, s["timeout"])


def rewrite_paths(text, mapping):
    """The main file with every configuration path under a key of MAPPING moved to its value.

    MAPPING: configured directory (as the central wrote it) -> directory it is under here. A path
    already under <configured>/current (an installed tree) maps the same way."""
    out = []
    for line in text.splitlines(True):
        m = re.match(r"^(\s*)(\w+)(\s*=\s*)(.*?)(\s*)$", line)
        if not m or m.group(2) not in PATH_DIRECTIVES:
            out.append(line)
            continue
        words = m.group(4).split(" ")
        for i, word in enumerate(words):
            for configured, here in sorted(mapping.items(), key=lambda kv: -len(kv[0])):
                if word == configured or word.startswith(configured + "/"):
                    rel = word[len(configured) :].lstrip("/")
                    if rel == "current" or rel.startswith("current/"):
                        rel = rel[len("current") :].lstrip("/")
                    words[i] = here + ("/" + rel if rel else "")
                    break
        out.append(m.group(1) + m.group(2) + m.group(3) + " ".join(words) + line[len(line.rstrip("\r\n")) :])
    return "".join(out)


def point_main_file(tree, s, base):
    """Rewrite the main file of TREE so its configuration paths are under BASE (they name the
    central's directories, current/ when TREE started as a copy of it, or TREE itself)."""
    path = os.path.join(tree, MAIN_FILE)
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        text = f.read()
    mapping = {s["engine_path"]: base, s["broker_path"]: base + "/" + BROKER_SUBDIR}
    current = os.path.join(s["config_dir"], "current")
    mapping.setdefault(current, base)  # an installed tree (the staging base) names current/
    mapping.setdefault(tree, base)
    new = rewrite_paths(text, mapping)
    if new != text:
        tmp = path + ".rewrite"
        with open(tmp, "w", encoding="utf-8", errors="surrogateescape") as f:
            f.write(new)
        os.replace(tmp, path)


def verify(tree, s):
    if not s["verify"]:
        return
    argv = [part.replace("{config}", tree) for part in shlex.split(s["verify"])]
    try:
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=s["timeout"])
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


def _sync(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_tree(top):
    """fsync every regular file and every directory under TOP (TOP included): after a power cut,
    the tree `current` points at holds the verified files, not empty or half-written ones."""
    for root, _dirs, names in os.walk(top):
        for name in names:
            path = os.path.join(root, name)
            if stat.S_ISREG(os.lstat(path).st_mode):  # not a link, not a FIFO (an open would block)
                _sync(path)
        _sync(root)


def install(config_dir, staging, keep):
    """Move the verified tree into releases/, make it durable, switch `current` to it atomically
    (and durably), and only then prune old releases."""
    releases = os.path.join(config_dir, "releases")
    os.makedirs(releases, exist_ok=True)
    name = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + f"-{os.getpid()}-{int(time.monotonic() * 1000) % 10**6:06d}"
    target = os.path.join(releases, name)
    os.rename(staging, target)
    link = os.path.join(config_dir, "current")
    tmp_link = link + f".new-{os.getpid()}"
    try:
        sync_tree(target)
        _sync(releases)
        if os.path.lexists(tmp_link):
            os.unlink(tmp_link)
        os.symlink(os.path.join("releases", name), tmp_link)
        os.replace(tmp_link, link)  # rename(2): the engine sees the old tree or the new one, never half
    except OSError:
        shutil.rmtree(target, ignore_errors=True)
        if os.path.lexists(tmp_link):
            os.unlink(tmp_link)
        raise
    _sync(config_dir)  # the switch itself survives a power cut before the old trees go
    old = sorted(d for d in os.listdir(releases) if d != name)
    for stale in old[: max(0, len(old) - (keep - 1))]:
        shutil.rmtree(os.path.join(releases, stale), ignore_errors=True)
    return target


def current(config_dir):
    link = os.path.join(config_dir, "current")
    return os.path.realpath(link) if os.path.isdir(link) else None


def stage_verify_install(s, staging, fill):
    """FILL(staging) puts the new tree in place; then verify a copy pointing at itself and install
    it pointing at current/. Any failure removes the staging directory and changes nothing."""
    try:
        fill(staging)
        point_main_file(staging, s, staging)
        verify(staging, s)
        point_main_file(staging, s, os.path.join(s["config_dir"], "current"))
        return install(s["config_dir"], staging, s["keep"])
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def fetch_once(s):
    staging = os.path.join(s["config_dir"], f".staging-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)

    def fill(path):
        base = current(s["config_dir"])
        if base:  # start from the last good tree: rsync then moves only what changed
            shutil.copytree(base, path, symlinks=True)
        else:
            os.makedirs(path)
        fetch(path, s)

    return stage_verify_install(s, staging, fill)


def main_fetch(s):
    if not s["central"]:
        log("CENTRAL_HOST is not set")
        return finish(s["config_dir"], "no central to fetch from")
    os.makedirs(s["config_dir"], exist_ok=True)
    delay = s["backoff"]
    last = ""
    for attempt in range(1, s["attempts"] + 1):
        try:
            target = fetch_once(s)
            log(f"configuration of {s['poller']} fetched from {s['central']} and verified: {target}")
            return 0
        except (FetchError, OSError) as exc:
            last = describe(exc)
            log(f"attempt {attempt}/{s['attempts']}: {last}")
            if "host key" in str(exc):
                break  # a wrong host key does not fix itself: do not retry
            if attempt < s["attempts"]:
                time.sleep(delay)
                delay = min(delay * 2, 60)
    return finish(s["config_dir"], "fetching failed", last)


def describe(exc):
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror or exc}{where}"
    return str(exc)


# --- pushes from the central (the `centreon` user through the container's sshd) ---------------------


def copy_push(source, target):
    """Copy the pushed tree SOURCE (a path, or a directory fd): directories and regular files only.

    The push directory belongs to the central's unprivileged account, and this runs as root: every
    entry is opened without following links (O_NOFOLLOW, relative to its directory's fd) and checked
    on the open fd, so a link swapped in between a look and a read cannot make root copy another
    file. Links, devices and FIFOs are left out."""
    os.makedirs(target)
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK
    dir_fd = source if isinstance(source, int) else os.open(source, flags | os.O_DIRECTORY)
    try:
        for name in sorted(os.listdir(dir_fd)):
            try:
                fd = os.open(name, flags, dir_fd=dir_fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENXIO, errno.ENOENT):  # a link, a socket, gone
                    continue
                raise
            try:
                mode = os.fstat(fd).st_mode
                if stat.S_ISDIR(mode):
                    copy_push(fd, os.path.join(target, name))
                    fd = -1  # closed by the recursive call
                elif stat.S_ISREG(mode):
                    with open(os.path.join(target, name), "wb") as out, os.fdopen(fd, "rb", closefd=True) as src:
                        fd = -1
                        shutil.copyfileobj(src, out)
                    os.chmod(os.path.join(target, name), 0o644)
            finally:
                if fd >= 0:
                    os.close(fd)
    finally:
        os.close(dir_fd)


def apply_push(s):
    """Verify and install what the central pushed to PUSH_DIR/engine (and broker); reload the engine."""
    inbox = s["push_dir"]
    staging = os.path.join(s["config_dir"], f".staging-push-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)

    def fill(path):
        copy_push(os.path.join(inbox, "engine"), path)
        broker = os.path.join(inbox, "broker")
        if os.path.isdir(broker):
            copy_push(broker, os.path.join(path, BROKER_SUBDIR))
        if not os.path.isfile(os.path.join(path, MAIN_FILE)):
            raise FetchError(f"the push holds no {MAIN_FILE}")

    target = stage_verify_install(s, staging, fill)
    reloaded = reload_engine()
    return f"applied {os.path.basename(target)}; " + (
        f"engine (pid {reloaded}) reloaded" if reloaded else "no engine running to reload"
    )


def reload_engine():
    """SIGHUP to the engine (centengine and nagios re-read their main file on it); its pid or None.

    The engine's own worker processes carry its name too: the one to signal is the one whose
    parent is not an engine."""
    engines = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read()
        except OSError:
            continue
        name = fields[fields.index("(") + 1 : fields.rindex(")")]
        if name == "centengine":
            engines[int(pid)] = int(fields[fields.rindex(")") + 2 :].split()[1])  # ppid
    for pid, ppid in sorted(engines.items()):
        if ppid not in engines:
            try:
                os.kill(pid, signal.SIGHUP)
            except OSError:
                continue
            return pid
    return None


def watch_push(s, interval=1.0):
    """supervisord's config-push program: apply each request poller-push leaves in PUSH_DIR."""
    inbox = s["push_dir"]
    log(f"waiting for pushes in {inbox}")
    while True:
        try:
            requests = sorted(n for n in os.listdir(inbox) if re.match(r"^\.request-[0-9A-Za-z.-]+$", n))
        except OSError:
            requests = []
        for name in requests:
            request_id = name[len(".request-") :]
            try:
                os.unlink(os.path.join(inbox, name))
                result = "OK " + apply_push(s)
            except (FetchError, OSError) as exc:
                result = f"REFUSED {describe(exc)}; the running configuration is unchanged"
            log(f"push {request_id}: {result}")
            try:
                tmp = os.path.join(inbox, f".tmp-result-{request_id}")
                with open(tmp, "w") as f:
                    f.write(result + "\n")
                os.chmod(tmp, 0o644)
                os.replace(tmp, os.path.join(inbox, f".result-{request_id}"))
            except OSError as exc:
                log(f"cannot write the result of push {request_id}: {describe(exc)}")
        time.sleep(interval)


def finish(config_dir, why, detail=""):
    """Exit status: 0 with the last good configuration, 2 without one. Without one, the reason also
    goes to STATUS_FILE (the entrypoint's health report while it waits for a configuration)."""
    good = current(config_dir) if config_dir else None
    if good:
        try:
            since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(os.path.getmtime(good)))
        except OSError:
            since = "unknown time"
        log(f"WARNING: {why}; the engine starts with the LAST GOOD configuration {good} (from {since})")
        return 0
    log(f"ERROR: {why} and there is no previous configuration in {config_dir}: the engine cannot start")
    status_file = os.environ.get("STATUS_FILE", "")
    if status_file.startswith("/"):
        try:
            with open(status_file, "w") as f:
                f.write(f"{why}: {detail}\n" if detail else f"{why}\n")
        except OSError as exc:
            log(f"cannot write STATUS_FILE {status_file}: {describe(exc)}")
    return 2


def main(argv):
    watching = argv[1:] == ["--watch-push"]
    try:
        s = settings(fetching=not watching)
    except BadEnvironment as exc:
        log(f"bad environment: {exc}")
        return finish(os.environ.get("CONFIG_DIR") or "/etc/centreon-engine", "the environment is invalid", str(exc))
    if watching:
        watch_push(s)
        return 0
    if argv[1:]:
        log(f"unknown arguments {' '.join(argv[1:])!r} (only --watch-push)")
        return 2
    try:
        return main_fetch(s)
    except OSError as exc:  # CONFIG_DIR itself unusable: the last good tree, if any, still runs
        log(f"cannot prepare {s['config_dir']}: {describe(exc)}")
        return finish(s["config_dir"], "fetching failed")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
