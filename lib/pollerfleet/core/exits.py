"""Exit statuses by name: a check's state as the Monitoring Plugins number it, and how a
`pollerfleet` command or an event handler ended. The two never mix a fleet's state with a
failure to look at it (docs/operations.md, "The whole fleet from one process")."""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum


class State(IntEnum):
    """A check's state: the plugins' exit codes, and `pollerfleet status`/`sweep`'s worst one."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3

    @classmethod
    def worst(cls, codes: Iterable[int]) -> State:
        """CRITICAL > WARNING > UNKNOWN > OK, as the Monitoring Plugins rank states (OK if none)."""
        return max((cls(c) for c in codes), key=_RANK.__getitem__, default=cls.OK)


_RANK = {State.OK: 0, State.UNKNOWN: 1, State.WARNING: 2, State.CRITICAL: 3}


class Exit(IntEnum):
    """How a command ended."""

    DONE = 0  # done, or nothing to do
    FAILED = 1  # a request was refused or failed; the breaker is open
    NOT_JUDGED = 3  # a usage, configuration, inventory or internal error; a host that could not be judged
    INTERRUPTED = 130  # Ctrl-C, as a shell reports it
