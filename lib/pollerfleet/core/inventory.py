"""The fleet's host list: the Ansible inventory's ``pollers`` group, read as Ansible reads it.

Ansible and the suite must see the same fleet, so this module implements the part of Ansible's
inventory that a poller fleet uses, with Ansible's own rules (ansible-core 2.x, checked against
``ansible-inventory --list`` in the tests), without importing Ansible (the check plugins start
hundreds of times a minute; importing Ansible alone costs more than a whole check):

- the INI and the YAML/JSON inventory formats, host ranges (``poller[01:03]``, ``web[a:c]``,
  ``p[1:9:2]``), ``host:port``, ``[group:children]`` and ``[group:vars]``;
- ``group_vars/`` and ``host_vars/`` beside the inventory file: ``NAME``, ``NAME.yml``,
  ``NAME.yaml`` or ``NAME.json`` (the first that exists), or a directory ``NAME/`` whose files are
  read in name order;
- variable precedence: ``all`` < the host's other groups ordered by depth, then
  ``ansible_group_priority``, then name < ``group_vars/all`` < ``group_vars/GROUP`` (same order)
  < the host's own inventory variables < ``host_vars/HOST``.

What it cannot do as Ansible does is refused with the reason, never guessed: inventory
directories, scripts and plugin configurations, vault-encrypted data, and Jinja templates in the
variables the suite itself reads (only Ansible renders those).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional


class InventoryError(Exception):
    """The inventory cannot be used; the message names the file."""


#: Variables the suite reads from a host; a Jinja template in one of them is refused, since only
#: Ansible renders templates and the suite would act on the raw ``{{ ... }}`` text.
SUITE_VARS = frozenset(
    {
        "ansible_host",
        "poller_docker_url",
        "poller_docker_tls_dir",
        "poller_vmware_enabled",
        "poller_image_tag",
        "poller_image_repository",
        "centreon_poller_engine_name",
        "centreon_poller_vmware_name",
    }
)
_YAML_EXTENSIONS = (".yml", ".yaml", ".json")


CANARY_VAR = "poller_canary"
_TRUE = ("true", "yes", "on", "1", "y", "t")  # Ansible's `| bool`


def ansible_true(value: Any) -> bool:
    """VALUE as Ansible's ``| bool`` reads it (true, yes, on, 1, y, t; a number 1)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value == 1
    return isinstance(value, str) and value.strip().lower() in _TRUE


@dataclass(frozen=True)
class PollerHost:
    """One Docker host of the fleet, with its inventory variables."""

    name: str
    vars: dict[str, Any] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return str(self.vars.get("ansible_host") or self.name)

    @property
    def docker_url(self) -> Optional[str]:
        url = self.vars.get("poller_docker_url")
        return str(url) if url else None

    @property
    def canary(self) -> bool:
        """Whether the inventory names the host a canary of image promotion (``poller_canary``)."""
        return ansible_true(self.vars.get(CANARY_VAR))

    @property
    def vmware_enabled(self) -> bool:
        value = self.vars.get("poller_vmware_enabled", False)
        if isinstance(value, str):
            return value.strip().lower() in ("1", "true", "yes", "on")
        return bool(value)


def load(path: Path, group: str = "pollers", cache_dir: Optional[Path] = None) -> dict[str, PollerHost]:
    """Hosts of GROUP (and its child groups), by name, with their variables as Ansible merges them.

    With CACHE_DIR, from the parsed form kept there while every file it was read from is
    unchanged (and kept there for the next caller when it had to be parsed)."""
    if cache_dir is not None and _has_sqlite():
        cache = _Cache(cache_dir, path, group)
        fleet = cache.fleet()
        if fleet is not None:
            return fleet
        return cache.rebuild().fleet
    return _parse(path, group).fleet


def find(
    path: Path, group: str = "pollers", name: str = "", address: str = "", cache_dir: Optional[Path] = None
) -> Optional[PollerHost]:
    """One host of GROUP: the one named NAME, else the first whose name or ansible_host is ADDRESS;
    None when there is none. With CACHE_DIR its cost does not grow with the fleet: one indexed
    look-up in the parsed form, checked against the identity of the inventory, group_vars and the
    host's own host_vars (an ADDRESS look-up also checks every host's host_vars)."""
    if cache_dir is not None and _has_sqlite():
        cache = _Cache(cache_dir, path, group)
        found = cache.find(name, address)
        if found is not None:
            return found[0]
        return _pick(cache.rebuild().fleet, name, address)
    return _pick(_parse(path, group).fleet, name, address)


def canaries(
    path: Path, group: str = "pollers", cache_dir: Optional[Path] = None, recheck_after: float = 0.0
) -> frozenset[str]:
    """The hosts of GROUP the inventory names canaries. With CACHE_DIR, from an index of the parsed
    form: no host's variables are decoded. The inventory and group_vars are checked every time;
    every host's host_vars files too, unless RECHECK_AFTER > 0: then at most once in that many
    seconds (one stat per file is what grows with the fleet), so an image check's cost stays flat
    and an edit in a host_vars file shows here within RECHECK_AFTER seconds."""
    if cache_dir is not None and _has_sqlite():
        cache = _Cache(cache_dir, path, group)
        found = cache.canaries(recheck_after)
        if found is not None:
            return found
        fleet = cache.rebuild().fleet
    else:
        fleet = _parse(path, group).fleet
    return frozenset(n for n, h in fleet.items() if h.canary)


def _has_sqlite() -> bool:
    """A Python built without sqlite3 (some minimal builds) parses every time, as without a cache."""
    try:
        import sqlite3  # noqa: F401
    except ImportError:
        return False
    return True


def _pick(fleet: dict[str, PollerHost], name: str, address: str) -> Optional[PollerHost]:
    if name:
        return fleet.get(name)
    for host in fleet.values():
        if address and (host.name == address or host.address == address):
            return host
    return None


@dataclass
class _Parsed:
    fleet: dict[str, PollerHost]
    inventory: _Inventory


def _parse(path: Path, group: str) -> _Parsed:
    inv = _Inventory(path)
    inv.parse()
    if group not in inv.groups:
        raise InventoryError(f"inventory {path} has no group [{group}]")
    return _Parsed({name: PollerHost(name, inv.host_vars(name)) for name in inv.members(group)}, inv)


# --- the parsed form, cached --------------------------------------------------------------------

#: Bumped whenever the parser's answers or the cache's layout change: an older cache is rebuilt.
_CACHE_FORMAT = "3"  # 2: the canary index; 3: every host's files listed once, in meta
#: A file changed this recently may change again within the file system's timestamp granularity
#: without its identity changing (git's "racily clean" entries): such a parse is not kept.
_RACY_NS = 2_000_000_000


def _identity(path: str) -> Optional[list[int]]:
    """What tells a changed file (or directory) from the one that was read: inode, size, mtime and
    ctime in nanoseconds, mode; None when nothing is there."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise InventoryError(f"inventory file {path} cannot be examined: {exc.strerror}") from None
    return [st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_mode]


def _unchanged(sources: Any) -> bool:
    """Whether every (path, identity) pair of SOURCES still holds; False for anything malformed."""
    if not isinstance(sources, list):
        return False
    try:
        for path, ident in sources:
            if type(path) is not str or _identity(path) != ident:
                return False
    except (InventoryError, TypeError, ValueError):
        return False
    return True


class _Cache:
    """The parsed inventory in one SQLite file in the cache directory: a row per host (its merged
    variables and the host_vars files they came from) under the identity of the fleet's files.
    The file is replaced whole (written beside it, then renamed) and only ever opened read-only
    and without following a link; one that cannot be read, is of another format or describes
    other files is parsed anew, never believed."""

    def __init__(self, directory: Path, path: Path, group: str) -> None:
        import hashlib

        self.source = os.path.abspath(path)
        self.path, self.group = path, group
        digest = hashlib.sha256(f"{self.source}\0{group}".encode()).hexdigest()[:24]
        self.file = Path(directory) / f"inventory-{digest}.sqlite"

    # -- reading ---------------------------------------------------------------------------

    def _open(self) -> Any:
        """The cache, read-only, if it is of this format, for this inventory and group, and none of
        the fleet's files changed; else None."""
        import sqlite3

        from pollerfleet.core import files

        try:
            fd = files.open_regular(self.file)
        except OSError:
            return None
        try:
            # the descriptor opened without following a link, as SQLite's own path; immutable: the
            # file is never written in place, so no locks and no journal are looked for
            db = sqlite3.connect(f"file:/proc/self/fd/{fd}?mode=ro&immutable=1", uri=True)
        except sqlite3.Error:
            os.close(fd)
            return None
        try:
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
            if (
                meta.get("format") != _CACHE_FORMAT
                or meta.get("source") != self.source
                or meta.get("group") != self.group
                or not _unchanged(json.loads(meta.get("sources", "null")))
            ):
                raise ValueError("stale")
        except (sqlite3.Error, ValueError, TypeError):
            db.close()
            os.close(fd)
            return None
        return _Open(db, fd, meta)

    def find(self, name: str, address: str) -> Optional[tuple[Optional[PollerHost]]]:
        """(the host or None) from the cache; None when the cache cannot answer."""
        import sqlite3

        with _closing(self._open()) as db:
            if db is None:
                return None
            try:
                if not name and not db.hosts_unchanged():
                    return None  # an address can come from any host's host_vars
                if name:
                    row = db.execute("SELECT name, vars, sources FROM hosts WHERE name = ?", (name,)).fetchone()
                elif address:
                    row = db.execute(
                        "SELECT name, vars, sources FROM hosts WHERE name = ?1 OR address = ?1 ORDER BY ord LIMIT 1",
                        (address,),
                    ).fetchone()
                else:
                    row = None
                if row is None:
                    return (None,)
                if not _unchanged(json.loads(row[2])):
                    return None
                return (PollerHost(row[0], _decode(json.loads(row[1]))),)
            except (sqlite3.Error, ValueError, TypeError, KeyError):
                return None

    def fleet(self) -> Optional[dict[str, PollerHost]]:
        """The whole fleet from the cache, every host's files checked; None when it cannot answer."""
        rows = self._every_host("SELECT name, vars FROM hosts ORDER BY ord")
        try:
            return None if rows is None else {n: PollerHost(n, _decode(json.loads(v))) for n, v in rows}
        except (ValueError, TypeError, KeyError):
            return None

    def canaries(self, recheck_after: float = 0.0) -> Optional[frozenset[str]]:
        """The canaries from the cache's index, every host's files checked (at most once in
        RECHECK_AFTER seconds, see canaries()); None when it cannot answer."""
        rows = self._every_host("SELECT name FROM hosts WHERE canary = 1", recheck_after)
        return None if rows is None else frozenset(n for (n,) in rows)

    def _every_host(self, query: str, recheck_after: float = 0.0) -> Optional[list[Any]]:
        """QUERY's rows, when the cache and every host's own files are unchanged (the latter
        taken from a check less than RECHECK_AFTER seconds ago, if any); else None."""
        import sqlite3

        with _closing(self._open()) as db:
            if db is None:
                return None
            try:
                if not self._checked_lately(db, recheck_after):
                    if not db.hosts_unchanged():
                        return None
                    if recheck_after > 0:
                        self._mark_checked(db)
                return list(db.execute(query).fetchall())
            except (sqlite3.Error, ValueError, TypeError, KeyError):
                return None

    # every host's host_vars found unchanged, when, and in which cache file: "INODE:MTIME_NS TIME"
    # in a file beside the cache (written whole, read without following a link, owner checked)

    def _stamp(self) -> Path:
        return self.file.with_name(self.file.stem + ".checked")

    def _checked_lately(self, db: _Open, seconds: float) -> bool:
        if seconds <= 0:
            return False
        import time

        from pollerfleet.core import files

        try:
            ident, at = files.read_checked(self._stamp()).decode("ascii").split()
            st = os.fstat(db.fd)
            return ident == f"{st.st_ino}:{st.st_mtime_ns}" and 0 <= time.time() - float(at) < seconds
        except (OSError, ValueError, UnicodeDecodeError):
            return False

    def _mark_checked(self, db: _Open) -> None:
        import time

        from pollerfleet.core import files

        st = os.fstat(db.fd)
        try:
            stamp = f"{st.st_ino}:{st.st_mtime_ns} {time.time():.3f}\n".encode("ascii")
            files.replace_durably(self._stamp(), stamp, mode=0o644, sync=False)
        except OSError:
            pass  # not kept: the next check examines the files again

    # -- writing ---------------------------------------------------------------------------

    def rebuild(self) -> _Parsed:
        """Parse the inventory and keep the result (a cache that cannot be written is no error)."""
        import sqlite3
        import time

        began = time.time_ns()
        parsed = _parse(self.path, self.group)
        try:
            self._write(parsed, began)
        except (OSError, sqlite3.Error, _Unencodable):
            pass
        return parsed

    def _write(self, parsed: _Parsed, began: int) -> None:
        import sqlite3

        from pollerfleet.core import files

        inv = parsed.inventory
        every = [inv.sources, *(inv.host_sources.get(h, {}) for h in parsed.fleet)]
        mode = 0o666
        for sources in every:
            for ident in sources.values():
                if ident is not None and ident[3] >= began - _RACY_NS:
                    return  # changed a moment ago: it may change again unseen; parse next time too
                if ident is not None and not (ident[5] & 0o040000):  # files, not directories
                    mode &= ident[5]
        rows = [
            (
                i,
                name,
                host.address,
                json.dumps(_encode(host.vars), separators=(",", ":")),
                _sources(inv.host_sources.get(name, {})),
                int(host.canary),
            )
            for i, (name, host) in enumerate(parsed.fleet.items())
        ]
        meta = {
            "format": _CACHE_FORMAT,
            "source": self.source,
            "group": self.group,
            "sources": _sources(inv.sources),
        }
        # every host's own files in one place: a question about the whole fleet checks them all
        # without reading (or decoding) a row per host
        meta["host_files"], meta["host_identities"] = _host_files(
            {p: i for h in parsed.fleet for p, i in inv.host_sources.get(h, {}).items()}
        )
        self.file.parent.mkdir(parents=True, exist_ok=True)
        # no more readable than the least readable file it was read from: it holds their variables
        fd, tmp = files.temp_beside(self.file, mode & 0o666)
        try:
            os.close(fd)
            db = sqlite3.connect(str(tmp))
            try:
                db.execute("PRAGMA journal_mode=OFF")
                db.execute("PRAGMA synchronous=OFF")
                db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
                db.execute(
                    "CREATE TABLE hosts (ord INTEGER NOT NULL, name TEXT PRIMARY KEY, address TEXT NOT NULL, "
                    "vars TEXT NOT NULL, sources TEXT NOT NULL, canary INTEGER NOT NULL)"
                )
                db.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
                db.executemany("INSERT INTO hosts VALUES (?, ?, ?, ?, ?, ?)", rows)
                db.execute("CREATE INDEX hosts_address ON hosts (address, ord)")
                db.execute("CREATE INDEX hosts_canary ON hosts (canary, name)")  # canaries() reads no row
                db.commit()
            finally:
                db.close()
            with open(tmp, "rb+") as f:  # the contents reach the disk before the name does
                os.fsync(f.fileno())
            files.commit(tmp, self.file)
        except BaseException:
            files.discard(tmp)
            raise


class _Open:
    """A read-only connection, the descriptor it reads through and the cache's meta table."""

    def __init__(self, db: Any, fd: int, meta: dict[str, Any]) -> None:
        self.db, self.fd, self.meta = db, fd, meta

    def execute(self, *args: Any) -> Any:
        return self.db.execute(*args)

    def hosts_unchanged(self) -> bool:
        """Whether every host's own files (host_vars) are as they were read: one stat per file
        through its directory's descriptor, the identities compared as one text (decoding one
        row or one JSON pair per file cost more than the stats at 10,000 hosts)."""
        try:
            layout = json.loads(self.meta["host_files"])
            found: list[Optional[tuple[int, ...]]] = []
            for directory, names in layout:
                found += _identities(directory, names)
            return bool(_identities_text(found) == self.meta["host_identities"])
        except (KeyError, TypeError, ValueError, OSError):
            return False

    def close(self) -> None:
        self.db.close()
        os.close(self.fd)


def _host_files(seen: dict[str, Optional[list[int]]]) -> tuple[str, str]:
    """SEEN (path -> identity) as the cache keeps it: the files by directory, and their identities
    in that order as one text (see _Open.hosts_unchanged)."""
    by_directory: dict[str, dict[str, Optional[list[int]]]] = {}
    for path, ident in seen.items():
        directory, name = os.path.split(os.path.abspath(path))
        by_directory.setdefault(directory, {})[name] = ident
    layout = [(d, sorted(by_directory[d])) for d in sorted(by_directory)]
    identities = [by_directory[d][n] for d, names in layout for n in names]
    return json.dumps(layout), _identities_text([None if i is None else tuple(i) for i in identities])


def _identities(directory: str, names: list[str]) -> list[Optional[tuple[int, ...]]]:
    """The identity (see _identity) of each of NAMES in DIRECTORY, None for what is not there;
    OSError when one cannot be examined."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except (FileNotFoundError, NotADirectoryError):
        return [None] * len(names)
    out: list[Optional[tuple[int, ...]]] = []
    try:
        for name in names:
            if type(name) is not str or "/" in name:
                raise ValueError(name)
            try:
                st = os.stat(name, dir_fd=fd)
            except (FileNotFoundError, NotADirectoryError):
                out.append(None)
                continue
            out.append((st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_mode))
    finally:
        os.close(fd)
    return out


def _identities_text(identities: list[Optional[tuple[int, ...]]]) -> str:
    return repr(identities)


class _closing:
    def __init__(self, db: Optional[_Open]) -> None:
        self.db = db

    def __enter__(self) -> Optional[_Open]:
        return self.db

    def __exit__(self, *exc: object) -> None:
        if self.db is not None:
            self.db.close()


def _sources(seen: dict[str, Optional[list[int]]]) -> str:
    return json.dumps(sorted((os.path.abspath(p), ident) for p, ident in seen.items()))


class _Unencodable(Exception):
    pass


_TAG = "__pollerfleet_type"


def _encode(value: Any) -> Any:
    """VALUE as JSON that _decode turns back into exactly VALUE (YAML has dates, sets, binary,
    non-text keys and non-finite floats, which JSON alone would change)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return (
            value
            if value == value and value not in (float("inf"), float("-inf"))
            else {_TAG: "float", "v": repr(value)}
        )
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        if all(type(k) is str for k in value) and _TAG not in value:
            return {k: _encode(v) for k, v in value.items()}
        return {_TAG: "map", "v": [[_encode(k), _encode(v)] for k, v in value.items()]}
    return _encode_tagged(value)


def _encode_tagged(value: Any) -> Any:
    """A YAML value JSON has no type for, tagged with its own."""
    import datetime

    if isinstance(value, datetime.datetime):
        return {_TAG: "datetime", "v": value.isoformat()}
    if isinstance(value, datetime.date):
        return {_TAG: "date", "v": value.isoformat()}
    if isinstance(value, bytes):
        return {_TAG: "bytes", "v": value.hex()}
    if isinstance(value, (set, frozenset)):
        return {_TAG: "set", "v": [_encode(v) for v in value]}
    if isinstance(value, tuple):
        return {_TAG: "tuple", "v": [_encode(v) for v in value]}
    raise _Unencodable(type(value).__name__)


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    kind = value.get(_TAG)
    if kind is None:
        return {k: _decode(v) for k, v in value.items()}
    v = value["v"]
    if kind == "float":
        return float(v)
    if kind == "map":
        return {_hashable(_decode(k)): _decode(x) for k, x in v}
    if kind == "bytes":
        return bytes.fromhex(v)
    if kind == "set":
        return {_hashable(_decode(x)) for x in v}
    if kind == "tuple":
        return tuple(_decode(x) for x in v)
    import datetime

    if kind == "datetime":
        return datetime.datetime.fromisoformat(v)
    if kind == "date":
        return datetime.date.fromisoformat(v)
    raise ValueError(f"unknown tag {kind!r}")


def _hashable(value: Any) -> Any:
    if isinstance(value, (list, dict, set)):
        raise ValueError("unhashable key")
    return value


# --- the model -------------------------------------------------------------------------------


@dataclass
class _Group:
    name: str
    hosts: dict[str, None] = field(default_factory=dict)  # ordered, O(1) membership
    children: list[str] = field(default_factory=list)
    parents: list[str] = field(default_factory=list)
    vars: dict[str, Any] = field(default_factory=dict)
    priority: int = 1


class _Inventory:
    """Groups and hosts as Ansible's InventoryData holds them after parsing one file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.groups: dict[str, _Group] = {"all": _Group("all"), "ungrouped": _Group("ungrouped")}
        self.hosts: dict[str, dict[str, Any]] = {}
        self.where = ""
        self._files: dict[tuple[Path, str], dict[str, Any]] = {}  # group_vars/host_vars, read once per load
        self._memberships: Optional[dict[str, list[str]]] = None
        self._depth: dict[str, int] = {}
        self._listings: dict[Path, set[str]] = {}
        # what each answer was read from, as (path, identity) pairs (see _identity): the fleet's
        # files (the inventory, group_vars) and each host's own (host_vars/HOST...)
        self.sources: dict[str, Optional[list[int]]] = {}
        self.host_sources: dict[str, dict[str, Optional[list[int]]]] = {}

    def fail(self, message: str) -> InventoryError:
        return InventoryError(f"inventory {self.path}{self.where}: {message}")

    def add_group(self, name: Any) -> str:
        if not isinstance(name, str) or not name:
            raise self.fail(f"group name {name!r} must be a non-empty string")
        self.groups.setdefault(name, _Group(name))
        return name

    def add_child(self, parent: str, child: str) -> None:
        if parent == child or parent in self.descendants(child) | {child}:
            raise self.fail(f"group {child} is its own ancestor (through {parent})")
        if child not in self.groups[parent].children:
            self.groups[parent].children.append(child)
            self.groups[child].parents.append(parent)

    def add_host(self, host: str, group: str, port: Optional[int]) -> None:
        if host not in self.hosts:
            self.hosts[host] = {"ansible_port": port} if port else {}
        self.groups[group].hosts.setdefault(host, None)

    def set_group_var(self, group: str, key: Any, value: Any) -> None:
        if key == "ansible_group_priority":
            try:
                self.groups[group].priority = int(value)
            except (TypeError, ValueError):
                raise self.fail(f"ansible_group_priority of {group} must be an integer, got {value!r}") from None
        else:
            self.groups[group].vars[str(key)] = value

    def descendants(self, name: str) -> set[str]:
        return self._closure(name, "children")

    def ancestors(self, name: str) -> set[str]:
        return self._closure(name, "parents")

    def _closure(self, name: str, link: str) -> set[str]:
        """Every group reached from NAME through LINK (children or parents), cycles included once."""
        out: set[str] = set()
        todo = list(getattr(self.groups[name], link))
        while todo:
            g = todo.pop()
            if g not in out:
                out.add(g)
                todo += getattr(self.groups[g], link)
        return out

    # -- reading ---------------------------------------------------------------------------

    def parse(self) -> None:
        path = self.path
        self.sources[str(path)] = _identity(str(path))
        text = self._read_text()
        # Ansible tries its YAML reader first (for .yml/.yaml/.json and files without an
        # extension), then the INI one.
        doc: Any = None
        if path.suffix in _YAML_EXTENSIONS:
            doc = _load_yaml(text, f"inventory {path}")
        elif not path.suffix:
            try:
                doc = _load_yaml(text, f"inventory {path}")
            except InventoryError:
                doc = None
        if isinstance(doc, dict) or path.suffix in _YAML_EXTENSIONS:
            self._parse_yaml(doc)
        else:
            self._parse_ini(text)
        for name, g in self.groups.items():
            if name != "all" and not g.parents:
                self.add_child("all", name)
        grouped = {h for n, g in self.groups.items() if n not in ("all", "ungrouped") for h in g.hosts}
        for host in self.hosts:
            if host in grouped:
                self.groups["ungrouped"].hosts.pop(host, None)
            else:
                self.add_host(host, "ungrouped", None)

    def _read_text(self) -> str:
        """The inventory file's text; InventoryError for what pollerfleet does not read (a
        directory, a script, TOML, not UTF-8, vault-encrypted)."""
        path = self.path
        if path.is_dir():
            raise InventoryError(
                f"inventory {path} is a directory; name one inventory file in [fleet] inventory "
                "(pollerfleet reads a single INI, YAML or JSON file and its group_vars/host_vars)"
            )
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise InventoryError(f"inventory {path} cannot be read: {exc.strerror}") from None
        if raw.startswith(b"#!") and os.access(path, os.X_OK):
            raise InventoryError(
                f"inventory {path} is an executable inventory script, which pollerfleet does not run; "
                "write its output to a YAML or INI file and name that file"
            )
        if path.suffix == ".toml":
            raise InventoryError(f"inventory {path}: TOML inventories are not read; use INI or YAML")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InventoryError(f"inventory {path} is not UTF-8 text") from None
        if text.startswith("$ANSIBLE_VAULT"):
            raise InventoryError(f"inventory {path} is vault-encrypted, which pollerfleet cannot read")
        return text

    def members(self, group: str) -> list[str]:
        out: dict[str, None] = {}
        for g in [group, *sorted(self.descendants(group))]:
            out.update(dict.fromkeys(self.groups[g].hosts))
        return list(out)

    def host_vars(self, host: str) -> dict[str, Any]:
        if self._memberships is None:
            self._memberships = {}
            for name, group in self.groups.items():
                for h in group.hosts:
                    self._memberships.setdefault(h, []).append(name)
        direct = self._memberships.get(host, [])
        groups = set(direct)
        for g in direct:
            groups |= self.ancestors(g)
        groups.discard("all")
        depth = self._depth

        def depth_of(name: str) -> int:
            if name not in depth:
                parents = self.groups[name].parents
                depth[name] = 0 if name == "all" else max(depth_of(p) + 1 for p in parents)
            return depth[name]

        ordered = sorted(groups, key=lambda n: (depth_of(n), self.groups[n].priority, n))
        merged: dict[str, Any] = dict(self.groups["all"].vars)
        for g in ordered:
            merged.update(self.groups[g].vars)
        base = self.path.parent
        for g in ("all", *ordered):
            merged.update(self._vars_files(base / "group_vars", g))
        merged.update(self.hosts[host])
        merged.update(self._vars_files(base / "host_vars", host))
        for key in SUITE_VARS & merged.keys():
            value = merged[key]
            if isinstance(value, str) and ("{{" in value or "{%" in value):
                raise InventoryError(
                    f"inventory {self.path}: {key} of {host} is a Jinja template ({value!r}), which only "
                    "Ansible renders; set the plain value"
                )
        return merged

    def _vars_files(self, directory: Path, name: str) -> dict[str, Any]:
        """What Ansible's host_group_vars plugin reads for NAME in DIRECTORY (group_vars or host_vars)."""
        key = (directory, name)
        if key not in self._files:
            self._files[key] = self._read_vars_files(directory, name)
        return self._files[key]

    def _read_vars_files(self, directory: Path, name: str) -> dict[str, Any]:
        if directory.name == "host_vars":
            seen = self.host_sources.setdefault(name, {})
        else:
            seen = self.sources
        if directory not in self._listings:  # one listing per directory, not four stats per host
            self.sources[str(directory)] = _identity(str(directory))  # a file added or removed changes it
            try:
                self._listings[directory] = set(os.listdir(directory))
            except FileNotFoundError:
                self._listings[directory] = set()
            except NotADirectoryError:
                raise InventoryError(f"inventory {self.path}: {directory} is not a directory") from None
            except OSError as exc:
                raise InventoryError(f"inventory {self.path}: {directory} cannot be read: {exc.strerror}") from None
        listing = self._listings[directory]
        if name.startswith(os.sep) or not listing:
            return {}
        found: list[Path] = []
        for ext in ("", *_YAML_EXTENSIONS):
            candidate = directory / (name + ext)
            if name + ext in listing:
                seen[str(candidate)] = ident = _identity(str(candidate))  # None: a dangling link, for now
                if ident is not None:
                    found = _dir_vars_files(candidate, seen) if candidate.is_dir() else [candidate]
                    break
        merged: dict[str, Any] = {}
        for file in found:
            try:
                text = file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise InventoryError(f"variables file {file} cannot be read: {exc}") from None
            if text.startswith("$ANSIBLE_VAULT"):
                raise InventoryError(f"variables file {file} is vault-encrypted, which pollerfleet cannot read")
            data = _load_yaml(text, f"variables file {file}")
            if not data:
                continue
            if not isinstance(data, dict):
                raise InventoryError(f"variables file {file} must be a mapping of variables")
            merged.update({str(k): v for k, v in data.items()})
        return merged

    # -- YAML ------------------------------------------------------------------------------

    def _parse_yaml(self, doc: Any) -> None:
        if not doc:
            raise self.fail("is empty")
        if not isinstance(doc, dict):
            raise self.fail("must be a mapping of groups")
        if doc.get("plugin"):
            raise self.fail(
                f"is the configuration of the inventory plugin {doc['plugin']!r}, which pollerfleet does not "
                "run; name a static INI or YAML inventory"
            )
        for name, body in doc.items():
            self._yaml_group(name, body)

    def _yaml_group(self, name: Any, body: Any) -> str:
        if body is not None and not isinstance(body, dict):
            raise self.fail(f"group {name} must be a mapping (hosts, children, vars)")
        group = self.add_group(name)
        for section, value in (body or {}).items():
            if isinstance(value, str):
                value = {value: None}
            if section not in ("hosts", "children", "vars"):
                raise self.fail(f"group {group} has {section!r}; only hosts, children and vars are allowed")
            if value is None:
                continue
            if not isinstance(value, dict):
                raise self.fail(f"{section} of group {group} must be a mapping")
            if section == "vars":
                for key, v in value.items():
                    self.set_group_var(group, key, v)
            elif section == "children":
                for child, cbody in value.items():
                    self.add_child(group, self._yaml_group(child, cbody))
            else:
                for pattern, hvars in value.items():
                    if not isinstance(pattern, str):
                        raise self.fail(f"host {pattern!r} of group {group} must be a string (quote it)")
                    if hvars is not None and not isinstance(hvars, dict):
                        raise self.fail(f"variables of host {pattern} must be a mapping")
                    self._add_hosts(pattern, group, hvars or {})
        return group

    def _add_hosts(self, pattern: str, group: str, hvars: dict[str, Any]) -> None:
        names, port = self._expand(pattern)
        for host in names:
            self.add_host(host, group, port)
            self.hosts[host].update({str(k): v for k, v in hvars.items()})

    def _expand(self, pattern: str) -> tuple[list[str], Optional[int]]:
        host, port = _split_port(pattern)
        try:
            return expand_host_range(host), port
        except ValueError as exc:
            raise self.fail(f"host pattern {pattern!r}: {exc}") from None

    # -- INI -------------------------------------------------------------------------------

    # patterns, not compiled ones: re compiles each on first use, so a look-up in the cache pays none
    _SECTION = r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$"
    _GROUPNAME = r"^([^:\]\s]+)\s*(?:#.*)?$"

    def _parse_ini(self, text: str) -> None:
        pending: dict[str, dict[str, Any]] = {}
        group, kind = "ungrouped", "hosts"
        for number, raw in enumerate(text.splitlines(), 1):
            self.where = f" line {number}"
            line = raw.strip()
            if not line or line[0] in ";#":
                continue
            if line.startswith("["):
                group, kind = self._ini_section(line, number, pending)
            elif kind == "hosts":
                self._ini_host(line, group)
            elif kind == "vars":
                self._ini_var(line, group)
            else:
                self._ini_child(line, number, group, pending)
        self._ini_undefined(pending)
        self.where = ""

    def _ini_section(self, line: str, number: int, pending: dict[str, dict[str, Any]]) -> tuple[str, str]:
        """The group and kind (hosts, children, vars) a ``[section]`` line opens."""
        m = re.match(self._SECTION, line)
        if not m:
            if not line.endswith("]"):
                raise self.fail(f"unclosed section {line!r}")
            raise self.fail(f"invalid section {line!r} (no spaces or colons in a group name)")
        group, kind = m.group(1), m.group(2) or "hosts"
        if kind not in ("hosts", "children", "vars"):
            raise self.fail(f"unknown section kind {kind!r} in {line!r} (hosts, children or vars)")
        if group not in self.groups:
            if kind == "vars" and group not in pending:
                pending[group] = {"line": number, "kind": kind, "parents": []}
            self.add_group(group)
        if group in pending and kind != "vars":
            if pending[group]["kind"] == "children":
                self._adopt(group, pending)
            else:
                del pending[group]
        return group, kind

    def _ini_host(self, line: str, group: str) -> None:
        """A host line: a host pattern and its key=value variables."""
        import shlex

        try:
            words = shlex.split(line, comments=True)
        except ValueError as exc:
            raise self.fail(f"{exc} in {line!r}") from None
        if words[0].endswith(":") or words[0].strip() == "---":
            raise self.fail(f"invalid host pattern {words[0]!r}")
        hvars: dict[str, Any] = {}
        for word in words[1:]:
            key, sep, value = word.partition("=")
            if not sep:
                raise self.fail(f"expected key=value, got {word!r}")
            hvars[key] = _ini_value(value)
        self._add_hosts(words[0], group, hvars)

    def _ini_var(self, line: str, group: str) -> None:
        """A line of a ``[group:vars]`` section."""
        key, sep, value = line.partition("=")
        if not sep:
            raise self.fail(f"expected key=value, got {line!r}")
        self.set_group_var(group, key.strip(), _ini_value(value.strip()))

    def _ini_child(self, line: str, number: int, group: str, pending: dict[str, dict[str, Any]]) -> None:
        """A line of a ``[group:children]`` section; a child not defined yet waits in PENDING."""
        m = re.match(self._GROUPNAME, line)
        if not m:
            raise self.fail(f"expected a group name, got {line!r}")
        child = m.group(1)
        if child in self.groups:
            self.add_child(group, child)
        else:
            pending.setdefault(child, {"line": number, "kind": "children", "parents": []})
            pending[child]["parents"].append(group)

    def _ini_undefined(self, pending: dict[str, dict[str, Any]]) -> None:
        """Refuse what is still pending at the end: vars or children of a group never defined."""
        for name, decl in pending.items():
            self.where = f" line {decl['line']}"
            if decl["kind"] == "vars":
                raise self.fail(f"section [{name}:vars] is for a group that is never defined")
            raise self.fail(f"section [{decl['parents'][-1]}:children] names the undefined group {name}")

    def _adopt(self, group: str, pending: dict[str, dict[str, Any]]) -> None:
        for parent in pending[group]["parents"]:
            self.add_child(parent, group)
            if parent in pending and pending[parent]["kind"] == "children":
                self._adopt(parent, pending)
        del pending[group]


# --- helpers ---------------------------------------------------------------------------------


class _VaultValue(Exception):
    pass


def _unsafe(loader: Any, node: Any) -> Any:
    import yaml

    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)


def _vault(loader: Any, node: Any) -> Any:
    raise _VaultValue(str(node.start_mark).strip())


_LOADER: Any = None


def _yaml_loader() -> Any:
    """YAML as Ansible loads variables: ``!unsafe`` is a plain string, ``!vault`` is refused. On
    PyYAML's C parser where it was built with libyaml (the same resolver and constructors as the
    pure-Python SafeLoader, several times faster); imported only when a file is really parsed."""
    global _LOADER
    if _LOADER is None:
        import yaml

        class Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
            pass

        Loader.add_constructor("!unsafe", _unsafe)
        Loader.add_constructor("!vault", _vault)
        Loader.add_constructor("!vault-encrypted", _vault)
        _LOADER = Loader
    return _LOADER


def _json_tags(obj: dict[str, Any]) -> Any:
    """Ansible's JSON tags: ``{"__ansible_unsafe": TEXT}`` is the text, ``{"__ansible_vault": ...}`` refused."""
    if len(obj) == 1:
        if "__ansible_vault" in obj:
            raise _VaultValue("__ansible_vault")
        if "__ansible_unsafe" in obj and isinstance(obj["__ansible_unsafe"], str):
            return obj["__ansible_unsafe"]
    return obj


def _dir_vars_files(directory: Path, seen: dict[str, Optional[list[int]]]) -> list[Path]:
    """The files of a group_vars/NAME/ directory as Ansible picks them: name order, recursive, no hidden
    files or backups, only .yml/.yaml/.json or no extension, no directories with an extension.
    Every entry looked at goes into SEEN with its identity."""
    found: list[Path] = []
    for entry in sorted(os.listdir(directory)):
        if entry.startswith(".") or entry.endswith("~"):
            continue
        full, ext = directory / entry, os.path.splitext(entry)[1]
        seen[str(full)] = _identity(str(full))
        if full.is_dir():
            if not ext:
                found += _dir_vars_files(full, seen)
        elif full.is_file() and (not ext or ext in _YAML_EXTENSIONS):
            found.append(full)
    return found


def _load_yaml(text: str, what: str) -> Any:
    """A YAML or JSON document as Ansible's loader reads it: as JSON first, then as YAML."""
    try:
        return json.loads(text, object_hook=_json_tags)
    except _VaultValue as exc:
        raise InventoryError(f"{what} holds a vault-encrypted value ({exc}), which pollerfleet cannot read") from None
    except (ValueError, RecursionError):
        pass
    import yaml

    try:
        return yaml.load(text, Loader=_yaml_loader())  # noqa: S506 - a SafeLoader (CSafeLoader) subclass
    except _VaultValue as exc:
        raise InventoryError(f"{what} holds a vault-encrypted value ({exc}), which pollerfleet cannot read") from None
    except yaml.YAMLError as exc:
        raise InventoryError(f"{what} is not valid YAML: {str(exc).splitlines()[0]}") from None


def _ini_value(text: str) -> Any:
    """An INI value as Ansible's INI reader types it: a Python literal if it is one, else the text."""
    import ast

    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text
    return _plain(value)


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple, set)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if value is Ellipsis:
        return "..."
    if isinstance(value, complex):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return value


_RANGE = r"\[(?:[a-z]:[a-z]|[0-9]+:[0-9]+)(?::[0-9]+)?\]"
_LABEL = rf"(?:[\w]|{_RANGE})(?:[\w_-]|{_RANGE})*(?<![_-])"
_HOSTNAME = rf"(?i)^{_LABEL}(?:\.{_LABEL})*$"
_IPV4_PART = r"(?:[01]?[0-9]{1,2}|2[0-4][0-9]|25[0-5]|\[[0-9]+:[0-9]+(?::[0-9]+)?\])"
_IPV4 = rf"^(?:{_IPV4_PART}\.){{3}}{_IPV4_PART}$"
_BRACKETED_PORT = r"^\[(.+)\]:([0-9]+)$"
_HOST_PORT = r"^((?:[^:\[\]]|\[[^\]]*\])*):([0-9]+)$"


def _split_port(pattern: str) -> tuple[str, Optional[int]]:
    """``host:port`` as Ansible's parse_address splits it; a pattern it cannot parse keeps no port."""
    address, port = pattern, None
    for rx in (_BRACKETED_PORT, _HOST_PORT):
        m = re.match(rx, address)
        if m:
            address, port = m.group(1), int(m.group(2))
    if re.match(_IPV4, address) or re.match(_HOSTNAME, address):
        return address, port
    import ipaddress

    try:
        ipaddress.IPv6Address(address)
    except ValueError:
        return pattern, None
    return address, port


def expand_host_range(pattern: str) -> list[str]:
    """``poller[01:03]`` -> poller01..poller03, ``[a:c]``, ``[1:9:2]``, several ranges; as Ansible does."""
    if "[" not in pattern:
        return [pattern]
    head, _, rest = pattern.partition("[")
    body, closed, tail = rest.partition("]")
    if not closed:
        raise ValueError("unclosed range")
    bounds = body.split(":")
    if len(bounds) not in (2, 3):
        raise ValueError("a range is [begin:end] or [begin:end:step]")
    beg, end = bounds[0] or "0", bounds[1]
    step = bounds[2] if len(bounds) == 3 else "1"
    if not end:
        raise ValueError("a range needs an end")
    width = 0
    if beg[0] == "0" and len(beg) > 1:
        width = len(beg)
        if len(end) != width:
            raise ValueError("begin and end of a zero-padded range must have the same width")
    try:
        if not step.isdigit() or int(step) == 0:
            raise ValueError("the step of a range must be a positive integer")
        letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"  # string.ascii_letters
        if beg in letters and end in letters:
            i, j = letters.index(beg), letters.index(end)
            if i > j:
                raise ValueError("a range must have begin <= end")
            seq: list[str] = list(letters[i : j + 1 : int(step)])
        else:
            seq = [str(n).zfill(width) for n in range(int(beg), int(end) + 1, int(step))]
    except ValueError as exc:
        raise ValueError(str(exc) if "range" in str(exc) else f"bad range [{body}]") from None
    out: list[str] = []
    for item in seq:
        out += expand_host_range(f"{head}{item}{tail}")
    return out


def engine_name(host: PollerHost, default: str = "centreon-engine") -> str:
    """The engine container's name on HOST: the Ansible role's own variable when the inventory sets it."""
    return str(host.vars.get("centreon_poller_engine_name") or default)
