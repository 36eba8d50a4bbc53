"""The sweep's results for people and machines: the status table and JSON."""

from __future__ import annotations

from typing import Any, Optional

from pollerfleet.core.names import printable
from pollerfleet.fleet.sweep import CheckResult, HostResult

COLOURS = {"OK": "\033[32m", "WARNING": "\033[33m", "CRITICAL": "\033[31m", "UNKNOWN": "\033[35m"}


def detail(r: HostResult) -> str:
    """What is wrong with a host, whole: each problem once (a host that does not answer says so
    once, not four times)."""
    problems = dict.fromkeys(
        o.line.split(" - ", 1)[-1].split(" | ")[0] for o in (r.daemon, *r.services.values()) if o.code
    )
    return "; ".join(problems)


def table(results: list[HostResult], colour: bool, width: Optional[int] = None) -> str:
    """The fleet as a table whose columns fit their content; DETAIL whole, wrapped to WIDTH
    (a terminal's) in its own column (under the row when the terminal is too narrow for that),
    or on one line when WIDTH is None."""
    import textwrap

    heads = ("DOCKER", "CONTAINER", "IMAGE", "VMWARE")
    states = [[r.daemon, r.services["container"], r.services["image"], r.services["vmware"]] for r in results]
    host_w = max([len("HOST"), *(len(printable(r.host)) for r in results)]) + 2
    widths = [max([len(h), *(len(row[i].state) for row in states)]) + 2 for i, h in enumerate(heads)]
    indent = host_w + sum(widths)
    if width and width - indent < 30:  # too narrow beside the states: the detail goes under its row
        indent = 4
    wrap_at = width - indent if width else None

    def cell(o: CheckResult, w: int) -> str:
        text = o.state.ljust(w)
        return f"{COLOURS[o.state]}{text}\033[0m" if colour else text

    rows = ["HOST".ljust(host_w) + "".join(h.ljust(w) for h, w in zip(heads, widths)) + "DETAIL"]
    for r, row in zip(results, states):
        text = detail(r)
        lines = textwrap.wrap(text, wrap_at, break_on_hyphens=False) if wrap_at else [text]
        head = printable(r.host).ljust(host_w) + "".join(cell(o, w) for o, w in zip(row, widths))
        if indent == 4:
            rows += [head.rstrip(), *(" " * indent + line for line in lines)]
            continue
        rows.append((head + (lines[0] if lines else "")).rstrip())
        rows += [" " * indent + line for line in lines[1:]]
    return "\n".join(rows)


def to_json(results: list[HostResult]) -> list[dict[str, Any]]:
    return [
        {
            "host": r.host,
            "state": r.worst.name,
            "seconds": round(r.seconds, 3),
            "docker": vars(r.daemon),
            "services": {k: vars(v) for k, v in r.services.items()},
            "detail": detail(r),
        }
        for r in results
    ]
