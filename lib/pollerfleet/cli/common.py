"""What every subcommand does the same way: fail in one line, read the configuration, load the
inventory (the one loader, with its one wording of what is wrong), pick hosts, choose colours."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Iterable, NoReturn

from pollerfleet.cli.options import USAGE_ERROR
from pollerfleet.core import config, verbosity
from pollerfleet.core.inventory import InventoryError, PollerHost
from pollerfleet.core.inventory import load as load_inventory
from pollerfleet.core.record import replace  # the configuration's classes are records, not dataclasses


def fail(message: str) -> NoReturn:
    """A usage or configuration error: one line on stderr, exit 3."""
    print(f"pollerfleet: {message}", file=sys.stderr)
    raise SystemExit(USAGE_ERROR)


def warn(warning: str) -> None:
    print(f"pollerfleet: warning: {warning}", file=sys.stderr)


def load_config(args: argparse.Namespace) -> config.Config:
    """The configuration --config names (else $POLLERFLEET_CONFIG, else the default path)."""
    try:
        cfg = config.load(args.config)
    except config.ConfigError as exc:
        fail(str(exc))
    verbosity.log.info("configuration: %s", cfg.path or "built-in defaults (no config file)")
    return cfg


def fleet(cfg: config.Config, group: str = "", hint: str = "") -> dict[str, PollerHost]:
    """The inventory's fleet (GROUP, else [fleet] group), read through the cache directory's parsed
    form: the one loader of every command, and its one wording of what is wrong."""
    if cfg.fleet.inventory is None:
        fail("no fleet inventory is configured: set [fleet] inventory" + hint)
    try:
        return load_inventory(cfg.fleet.inventory, group or cfg.fleet.group, cache_dir=cfg.registry.cache_dir)
    except InventoryError as exc:
        fail(str(exc))


def fleet_for(args: argparse.Namespace) -> tuple[config.Config, dict[str, PollerHost]]:
    """The configuration and the inventory's fleet; --inventory overrides [fleet] inventory."""
    cfg = load_config(args)
    if args.inventory:
        cfg = replace(cfg, fleet=replace(cfg.fleet, inventory=Path(args.inventory)))
    return cfg, fleet(cfg, hint=" or give --inventory")


def not_in_inventory(hosts: Iterable[str], group: str) -> str:
    """What is said of hosts the inventory does not list (as the redeploy rules say it)."""
    names = list(hosts)
    return f"{', '.join(names)} {'is' if len(names) == 1 else 'are'} not in the inventory group [{group}]"


def chosen_hosts(args: argparse.Namespace, cfg: config.Config) -> list[PollerHost]:
    """The hosts of --group (else [fleet] group), only those of --host when given: a --host the
    inventory does not list is a usage error."""
    group = getattr(args, "group", None) or cfg.fleet.group
    return pick(fleet(cfg, group), getattr(args, "host", None), group)


def pick(hosts: dict[str, PollerHost], wanted: list[str] | None, group: str) -> list[PollerHost]:
    """HOSTS (the inventory group GROUP) in name order, only the WANTED ones when given; a wanted
    host that is not among them is a usage error: a typo must not pass for "nothing to do"."""
    unknown = [h for h in wanted or [] if h not in hosts]
    if unknown:
        fail(not_in_inventory(unknown, group))
    return [hosts[h] for h in sorted(hosts) if not wanted or h in wanted]


def colour_wanted(args: argparse.Namespace) -> bool:
    """Colours unless --no-colour/--no-color, NO_COLOR (no-color.org) or a dumb terminal say no."""
    return not args.no_colour and not os.environ.get("NO_COLOR") and os.environ.get("TERM", "") != "dumb"
