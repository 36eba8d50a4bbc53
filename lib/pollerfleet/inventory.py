"""The fleet's host list: the Ansible inventory's ``pollers`` group, read without running Ansible.

Ansible and the suite read the same file. Both of Ansible's inventory formats are understood:
YAML or JSON (``all: children: pollers: hosts: poller01: {vars}``) and INI (``[pollers]``,
``[pollers:children]``, ``[pollers:vars]``, ``host key=value``). Group variables are inherited
(``all`` first, then parents, then the group), host variables win.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml


class InventoryError(Exception):
    """The inventory cannot be used; the message names the file."""


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
    def vmware_enabled(self) -> bool:
        value = self.vars.get("poller_vmware_enabled", False)
        if isinstance(value, str):
            return value.strip().lower() in ("1", "true", "yes", "on")
        return bool(value)


@dataclass
class _Group:
    hosts: dict[str, dict[str, Any]] = field(default_factory=dict)
    children: list[str] = field(default_factory=list)
    vars: dict[str, Any] = field(default_factory=dict)


def load(path: Path, group: str = "pollers") -> dict[str, PollerHost]:
    """Hosts of GROUP (and its child groups), by name, with merged variables."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InventoryError(f"inventory {path} cannot be read: {exc.strerror}") from None
    groups = _parse_yaml(text, path) if path.suffix in (".yml", ".yaml", ".json") else _parse_ini(text, path)
    if group not in groups:
        raise InventoryError(f"inventory {path} has no group [{group}]")
    parents: dict[str, list[str]] = {}
    for name, g in groups.items():
        for child in g.children:
            parents.setdefault(child, []).append(name)

    def lineage(name: str, seen: tuple[str, ...] = ()) -> list[str]:
        if name in seen:
            raise InventoryError(f"inventory {path}: group {name} is its own ancestor")
        out: list[str] = []
        for parent in parents.get(name, []):
            out += [p for p in lineage(parent, (*seen, name)) if p not in out]
        return [*out, name]

    def members(name: str, seen: tuple[str, ...] = ()) -> list[tuple[str, str]]:
        if name in seen:
            raise InventoryError(f"inventory {path}: group {name} is its own descendant")
        g = groups.get(name, _Group())
        found = [(h, name) for h in g.hosts]
        for child in g.children:
            found += members(child, (*seen, name))
        return found

    hosts: dict[str, PollerHost] = {}
    for host, home in members(group):
        merged: dict[str, Any] = dict(groups["all"].vars) if "all" in groups else {}
        for ancestor in lineage(home):
            merged.update(groups[ancestor].vars if ancestor in groups else {})
        merged.update(groups[home].hosts[host])
        hosts.setdefault(host, PollerHost(host, merged))
    return hosts


def _parse_yaml(text: str, path: Path) -> dict[str, _Group]:
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise InventoryError(f"inventory {path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(doc, dict):
        raise InventoryError(f"inventory {path} must be a mapping of groups")
    groups: dict[str, _Group] = {}

    def walk(name: str, body: Any) -> None:
        g = groups.setdefault(name, _Group())
        if body is None:
            return
        if not isinstance(body, dict):
            raise InventoryError(f"inventory {path}: group {name} must be a mapping")
        for host, hvars in (body.get("hosts") or {}).items():
            if hvars is not None and not isinstance(hvars, dict):
                raise InventoryError(f"inventory {path}: variables of host {host} must be a mapping")
            g.hosts[str(host)] = dict(hvars or {})
        g.vars.update(body.get("vars") or {})
        for child, cbody in (body.get("children") or {}).items():
            g.children.append(str(child))
            walk(str(child), cbody)

    for name, body in doc.items():
        walk(str(name), body)
    return groups


def _parse_ini(text: str, path: Path) -> dict[str, _Group]:
    groups: dict[str, _Group] = {"ungrouped": _Group()}
    section, kind = "ungrouped", "hosts"
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith((";", "#")):
            continue
        if line.startswith("["):
            if not line.endswith("]"):
                raise InventoryError(f"inventory {path} line {number}: unclosed section {line!r}")
            section, _, kind = line[1:-1].partition(":")
            kind = kind or "hosts"
            if kind not in ("hosts", "children", "vars"):
                raise InventoryError(f"inventory {path} line {number}: unknown section kind {kind!r}")
            groups.setdefault(section, _Group())
            continue
        try:
            words = shlex.split(line, comments=True)
        except ValueError as exc:
            raise InventoryError(f"inventory {path} line {number}: {exc}") from None
        if not words:
            continue
        g = groups[section]
        if kind == "children":
            g.children.append(words[0])
            groups.setdefault(words[0], _Group())
        elif kind == "vars":
            key, sep, value = line.partition("=")
            if not sep:
                raise InventoryError(f"inventory {path} line {number}: expected key=value")
            g.vars[key.strip()] = _ini_value(value.strip())
        else:
            hvars: dict[str, Any] = {}
            for word in words[1:]:
                key, sep, value = word.partition("=")
                if not sep:
                    raise InventoryError(f"inventory {path} line {number}: expected key=value, got {word!r}")
                hvars[key] = _ini_value(value)
            g.hosts[words[0]] = hvars
    return groups


def _ini_value(value: str) -> Any:
    lowered = value.lower()
    if lowered in ("true", "yes"):
        return True
    if lowered in ("false", "no"):
        return False
    return value
