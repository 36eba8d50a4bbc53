"""A candidate image's promotion: the operator's word (``promote``, ``block``, ``unblock``) and
``channel``, which the promote-centreon-poller job runs on the agent to move the registry's tag.

The promotion rules are imported inside the commands: they bring python-jenkins and requests,
which ``--help`` and the other commands do without.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from pollerfleet.cli import common
from pollerfleet.clients.registry import RegistryError
from pollerfleet.core import config
from pollerfleet.core.exits import Exit
from pollerfleet.images.desired import TargetError

REFERENCE_HELP = "the candidate, REPOSITORY:TAG@sha256:DIGEST (pollerfleet rollout shows it)"
WORDS = (
    ("promote", "promote a candidate now, skipping the canaries' soak (audited with who asked)"),
    ("block", "block a candidate: no host gets it; the fleet stays on the promoted image"),
    ("unblock", "lift an operator's or a canary's block: the candidate starts a new canary round"),
)


def add_parser(sub: Any) -> None:
    for action, text in WORDS:
        pp = sub.add_parser(action, help=text)
        pp.add_argument("reference", metavar="REF", help=REFERENCE_HELP)
        if action == "block":
            pp.add_argument("--reason", required=True, metavar="TEXT", help="why (shown by rollout and the check)")
        pp.set_defaults(func=operator, action=action)
    ch = sub.add_parser(
        "channel", help="move the registry's promotion tag (the promote-centreon-poller job runs this on the agent)"
    )
    ch.add_argument(
        "action", choices=tuple(a for a, _ in WORDS), help="which tag: promoted, blocked-<hex>, or unblock it"
    )
    ch.add_argument("reference", metavar="REF", help=REFERENCE_HELP)
    ch.set_defaults(func=channel)


def operator(args: argparse.Namespace) -> int:
    """pollerfleet promote|block|unblock REF: the operator's word on a candidate, audited with who asked."""
    from pollerfleet.actions.promote import Promoter

    d = Promoter(common.load_config(args)).operator(args.action, args.reference, getattr(args, "reason", "") or "")
    print(d.line)
    return Exit.FAILED if d.action in ("error", "refused") else Exit.DONE


def channel(args: argparse.Namespace) -> int:
    """What the promote-centreon-poller job runs on the agent: move the registry's promotion tag."""
    from pollerfleet.actions.promote import write_channel

    try:
        said = write_channel(common.load_config(args), args.action, args.reference)
    except (TargetError, RegistryError, config.ConfigError) as exc:
        print(f"pollerfleet: {args.action} {args.reference}: {exc}", file=sys.stderr)
        return Exit.FAILED
    print(f"{args.action}: {said}")
    return Exit.DONE
