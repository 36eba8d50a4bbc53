#!/usr/bin/python3
"""pollerfleet-fetch-serve: the forced command of a poller's fetch key on the central.

Each poller's line in the fetch account's authorized_keys is

    restrict,from="<poller address>",command="pollerfleet-fetch-serve <generation dir> <poller id>" <key>

and this program is all that key can run. It serves, read-only, exactly two directories:
<generation dir>/engine/<poller id> and <generation dir>/broker/<poller id> (Centreon's layout:
/usr/share/centreon/filesGeneration in 19.04, /var/cache/centreon/config from 20.04), to the
rsync the poller's fetch client runs (`rsync ... ACCOUNT@central:<one of them>/ <staging>/`).

Why not rrsync -ro: rrsync confines a key to ONE directory, and a poller's two directories have
no common parent of their own (engine/<id> and broker/<id> sit beside every other poller's);
rrsync on the generation directory would serve every poller. Two keys per poller would double
what is generated, installed and rotated. So this program maps the two exact paths and runs
`rsync --server --sender` with options from a short allow-list: nothing that writes, deletes,
follows links out of the tree, or names other files (--files-from, --log-file, batch files).

Python >= 3.6, standard library only (CentOS 7's python3); no shell. Exit 1 with one line on
stderr (the client's rsync shows it) for anything refused; each refusal also goes to syslog.
"""

import os
import re
import sys
import syslog

RSYNC = "/usr/bin/rsync"
PREFIX = "pollerfleet-fetch-serve:"
# single-letter options a sender may get: recursion, links kept as links, times, permissions,
# checksums, verbosity, compression. No L/k/K (follow links), no b (backups), no s.
SHORT_OK = "cdDgHilnopqrStvxz"
SHORT_RE = re.compile(r"^-[" + SHORT_OK + r"]+(e[0-9]*\.[A-Za-z]*)?$")
LONG_RE = re.compile(
    r"^--(safe-links|numeric-ids|ignore-times|size-only|no-implied-dirs"
    r"|timeout=[0-9]{1,6}|bwlimit=[0-9]{1,9}[KkMm]?|compress-level=[0-9])$"
)


class Refused(Exception):
    pass


def allowed_paths(base, poller_id):
    return {
        os.path.join(base, "engine", poller_id): "engine",
        os.path.join(base, "broker", poller_id): "broker",
    }


def server_argv(command, base, poller_id):
    """The rsync argv to run for the client's COMMAND (SSH_ORIGINAL_COMMAND); Refused otherwise."""
    words = command.split(" ")
    if not command.strip():
        raise Refused(f"this key only fetches poller {poller_id}'s configuration with rsync: no shell")
    if words[:1] != ["rsync"]:
        raise Refused(f"this key only fetches poller {poller_id}'s configuration with rsync, not {words[0][:40]!r}")
    if words[1:3] != ["--server", "--sender"]:
        raise Refused("read-only: this key can only download (rsync --server --sender), never upload")
    rest = words[3:]
    if "." not in rest:
        raise Refused("not an rsync client's request")
    dot = rest.index(".")
    options, paths = rest[:dot], rest[dot + 1 :]
    for option in options:
        if not (SHORT_RE.match(option) or LONG_RE.match(option)):
            raise Refused(f"rsync option {option[:60]!r} is not allowed here (read-only fetch)")
    allowed = allowed_paths(base, poller_id)
    if len(paths) != 1:
        raise Refused(f"one directory at a time: {' or '.join(sorted(allowed))}")
    path = paths[0].rstrip("/") if paths[0] != "/" else "/"
    if path not in allowed:
        raise Refused(f"{paths[0][:120]!r} is not poller {poller_id}'s configuration ({' or '.join(sorted(allowed))})")
    return [RSYNC, "--server", "--sender", *options, "--safe-links", ".", path + "/"]


def log_refusal(message):
    """The central's own record (authpriv, beside sshd's lines); syslog(3) drops it quietly without /dev/log."""
    client = os.environ.get("SSH_CONNECTION", "?").split(" ")[0]
    syslog.openlog("pollerfleet-fetch-serve", 0, syslog.LOG_AUTHPRIV)
    syslog.syslog(syslog.LOG_WARNING, f"refused for {os.environ.get('USER', '?')} from {client}: {message}")


def main(argv):
    if len(argv) != 3 or not argv[1].startswith("/") or not re.match(r"^[0-9]{1,9}$", argv[2]):
        sys.stderr.write(f"{PREFIX} usage: {os.path.basename(argv[0])} GENERATION_DIR POLLER_ID\n")
        return 1
    base, poller_id = os.path.normpath(argv[1]), argv[2]
    try:
        rsync_argv = server_argv(os.environ.get("SSH_ORIGINAL_COMMAND", ""), base, poller_id)
    except Refused as exc:
        sys.stderr.write(f"{PREFIX} refused: {exc}\n")
        log_refusal(str(exc))
        return 1
    try:
        os.execv(RSYNC, rsync_argv)  # noqa: S606 - argv checked above, no shell
    except OSError as exc:
        sys.stderr.write(f"{PREFIX} cannot run {RSYNC}: {exc.strerror}\n")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
