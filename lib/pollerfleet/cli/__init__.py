"""The operator's command: ``pollerfleet``, one module per command group.

Exit codes never mix a fleet's state with a failure to look at it: 0 OK/done, 1 WARNING (status,
sweep) or a request refused or failed (redeploy, rebuild, reconcile, breaker), 2 CRITICAL, 3
UNKNOWN and every usage, configuration or internal error (as a plugin that could not check).

``main.py`` builds the parser from each group's ``add_parser(subparsers)`` and dispatches;
``options.py`` declares the options several commands share (in their ``--help`` groups), and
``common.py`` is what they do alike: fail in one line, read the configuration, load the inventory.
"""

from pollerfleet.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
