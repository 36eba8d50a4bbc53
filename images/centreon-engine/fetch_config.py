#!/usr/bin/env python3
"""pollerfleet-fetch-config: fetch this poller's engine and broker configuration from the central
over SSH, verify it, and only then swap it in atomically; keep the last good one when anything fails.

Runs as the container's entrypoint before supervisord (the seed's "own little python client"), and
as supervisord's `config-push` program (--watch-push): it answers the central's
`sudo service centengine reload|restart|stop|start` (images/centreon-engine/poller-push), verifying
and installing what the central copied with scp the same way, then acting on the engine through
supervisord.
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
    PUSH_RESULTS (/run/pollerfleet-push): where --watch-push answers, a directory only root writes
    SUPERVISOR_CONFIG (/etc/supervisord.conf): the supervisord that runs the engine (--watch-push)
    STATUS_FILE (none): where the reason goes when there is no configuration at all

Exit 0 when a configuration is in place (fresh, or the last good one: said loudly on stderr),
2 when there is none at all.
"""

import errno
import os
import re
import shlex
import shutil
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
    s["push_results"] = env_path("PUSH_RESULTS", "/run/pollerfleet-push")
    s["supervisor_config"] = env_path("SUPERVISOR_CONFIG", "/etc/supervisord.conf")
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
        reason = _reason(proc.stdout.decode("utf-8", "replace"))
        raise FetchError(f"verification failed (exit {proc.returncode}): {reason}")


def _first(text):
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0][:200] if lines else "no message"


def _reason(text):
    """The engine's first error line (what the central's operator has to fix), else its last line."""
    errors = [line.strip() for line in text.splitlines() if line.strip().startswith("Error")]
    return errors[0][:300] if errors else _last(text)


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


def same_tree(a, b):
    """Whether trees A and B hold the same directories and the same regular files, byte for byte."""

    def entries(top):
        found = {}
        for root, dirs, files in os.walk(top):
            for name in dirs + files:
                path = os.path.join(root, name)
                found[os.path.relpath(path, top)] = os.lstat(path)
        return found

    left, right = entries(a), entries(b)
    if set(left) != set(right):
        return False
    for rel, st in left.items():
        other = right[rel]
        if stat.S_IFMT(st.st_mode) != stat.S_IFMT(other.st_mode):
            return False
        if stat.S_ISREG(st.st_mode):
            if st.st_size != other.st_size:
                return False
            with open(os.path.join(a, rel), "rb") as f, open(os.path.join(b, rel), "rb") as g:
                if f.read() != g.read():
                    return False
        elif not stat.S_ISDIR(st.st_mode):
            return False
    return True


def apply_staged(s):
    """Install what the central copied into PUSH_DIR/engine (and broker) once it verifies.

    Returns the new release's path, "unchanged" when the staged tree is the running one, or None
    when nothing was pushed. Any failure (FetchError, OSError) changes nothing."""
    inbox = s["push_dir"]
    pushed = [d for d in ("engine", BROKER_SUBDIR) if _listing(os.path.join(inbox, d))]
    if not pushed:
        return None
    staging = os.path.join(s["config_dir"], f".staging-push-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    installed = os.path.join(s["config_dir"], "current")
    try:
        copy_push(os.path.join(inbox, "engine"), staging)
        if BROKER_SUBDIR in pushed:
            copy_push(os.path.join(inbox, BROKER_SUBDIR), os.path.join(staging, BROKER_SUBDIR))
        if not os.path.isfile(os.path.join(staging, MAIN_FILE)):
            raise FetchError(f"the push holds no {MAIN_FILE} in {ENGINE_PUSH_PATH}")
        # as it would be installed: the same as the running tree needs no verification
        point_main_file(staging, s, installed)
        running = current(s["config_dir"])
        if running and same_tree(staging, running):
            shutil.rmtree(staging, ignore_errors=True)
            return "unchanged"
        point_main_file(staging, s, staging)
        verify(staging, s)
        point_main_file(staging, s, installed)
        return install(s["config_dir"], staging, s["keep"])
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _listing(path):
    try:
        return os.listdir(path)
    except FileNotFoundError:
        return []


ENGINE_PROGRAM = "centengine"  # supervisord's program name (supervisord.conf)
ENGINE_PUSH_PATH = "/etc/centreon-engine/"


def supervisorctl(s, *args):
    """supervisorctl's output for ARGS on this container's supervisord ("" when it cannot run)."""
    argv = ["supervisorctl", "-c", s["supervisor_config"], *args]
    try:
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=100)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"supervisorctl failed: {exc}"
    return proc.stdout.decode("utf-8", "replace").strip()


def engine_state(s):
    """The engine's state as supervisord reports it (RUNNING, STOPPED, FATAL, ...), or the reason."""
    words = supervisorctl(s, "status", ENGINE_PROGRAM).split()
    if len(words) >= 2 and words[0] == ENGINE_PROGRAM:
        return words[1]
    return "unknown ({})".format(" ".join(words)[:200] or "no answer")


def control_engine(s, action):
    """What `service centengine ACTION` does on a package-installed poller, for the engine under
    supervisord: the staged configuration first (not for stop), then the engine. Returns the
    verdict: "OK ..." or "REFUSED ..."/"FAILED ..." with the reason."""
    done = []
    if action != "stop":
        try:
            applied = apply_staged(s)
        except (FetchError, OSError) as exc:
            kept = {"restart": " and the engine was not restarted", "start": " and the engine was not started"}
            return f"REFUSED {action}: {describe(exc)}; the running configuration is unchanged{kept.get(action, '')}"
        if applied == "unchanged":
            done.append("configuration unchanged")
        elif applied:
            done.append(f"applied {os.path.basename(applied)}")
    state = engine_state(s)
    if action == "reload":
        if state != "RUNNING":
            done.append(f"engine not running ({state}): it reads this configuration when started")
        else:
            out = supervisorctl(s, "signal", "HUP", ENGINE_PROGRAM)
            if "signalled" not in out:
                return "FAILED reload: {}; the engine did not get the reload signal: {}".format(
                    "; ".join(done) or "nothing pushed", out[:200]
                )
            done.append("engine reloaded")
    elif action == "stop":
        if state == "RUNNING" or state == "STARTING":
            supervisorctl(s, "stop", ENGINE_PROGRAM)
        state = engine_state(s)
        if state == "RUNNING":
            return "FAILED stop: the engine is still running"
        done.append("engine stopped")
    else:  # restart, start
        if action == "restart" or state != "RUNNING":
            supervisorctl(s, "restart" if action == "restart" else "start", ENGINE_PROGRAM)
        state = engine_state(s)
        if state != "RUNNING":
            return "FAILED {}: {}; the engine is {} (see the container's log)".format(
                action, "; ".join(done) or "nothing pushed", state
            )
        done.append("engine {}".format("restarted" if action == "restart" else "running"))
    return "OK " + "; ".join(done)


def results_dir(path):
    """The directory config-push answers in: root's, written by root only. The push account owns
    the push directory, so nothing root writes may go there (a planted link would be followed)."""
    try:
        os.mkdir(path, 0o755)
    except FileExistsError:
        pass
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o022:
        raise OSError(errno.EPERM, "not a directory that only this user owns and writes", path)
    return path


def write_result(directory, request_id, text):
    """TEXT as DIRECTORY/REQUEST_ID, whole or not at all: a new file (O_EXCL, no link followed),
    its mode set on the open file, then renamed into place."""
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    tmp = ".tmp-" + request_id
    try:
        try:
            os.unlink(tmp, dir_fd=dir_fd)
        except FileNotFoundError:
            pass
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=dir_fd)
        try:
            data = (text + "\n").encode("utf-8", "replace")
            while data:
                data = data[os.write(fd, data) :]
            os.fchmod(fd, 0o644)  # the push account reads it
        finally:
            os.close(fd)
        os.rename(tmp, request_id, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    finally:
        os.close(dir_fd)


def prune_results(directory, older_than=600):
    """Verdicts nobody read (the central gave up waiting) go after OLDER_THAN seconds."""
    now = time.time()
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        for name in os.listdir(dir_fd):
            try:
                if now - os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mtime > older_than:
                    os.unlink(name, dir_fd=dir_fd)
            except OSError:
                continue
    finally:
        os.close(dir_fd)


REQUEST = re.compile(r"^\.request-(reload|restart|stop|start)-([0-9]{1,25}-[0-9]{1,10})$")


def watch_push(s, interval=0.2):
    """supervisord's config-push program: answer each request poller-push leaves in PUSH_DIR (its
    name says the action) in PUSH_RESULTS, a directory only root writes."""
    inbox = s["push_dir"]
    results = results_dir(s["push_results"])
    log(f"waiting for the central's requests in {inbox}; verdicts in {results}")
    last_prune = 0.0
    while True:
        try:
            names = sorted(os.listdir(inbox))
        except OSError:
            names = []
        for name in names:
            m = REQUEST.match(name)
            if not m:
                continue
            action, request_id = m.groups()
            try:
                os.unlink(os.path.join(inbox, name))
            except OSError:
                continue
            result = control_engine(s, action)
            log(f"{action} {request_id}: {result}")
            try:
                write_result(results, request_id, result)
            except OSError as exc:
                log(f"cannot write the verdict of {action} {request_id}: {describe(exc)}")
        if time.monotonic() - last_prune > 60:
            last_prune = time.monotonic()
            try:
                prune_results(results)
            except OSError as exc:
                log(f"cannot prune {results}: {describe(exc)}")
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
        try:
            watch_push(s)
        except OSError as exc:
            log(f"cannot answer the central's requests: {describe(exc)}")
            return 2
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
