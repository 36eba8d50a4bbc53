#!/usr/bin/env python3
"""Print the suite's runtime requirements (setup.cfg install_requires) for a target Python X.Y.

pip evaluates environment markers against the Python that runs pip, not against --python-version,
so `tomli; python_version < "3.11"` would be dropped when a 3.11 pip fills a 3.9 tree: evaluate
the markers here for the target instead.
"""

from __future__ import annotations

import configparser
import sys
from pathlib import Path

from packaging.requirements import Requirement


def requirements(target: str, setup_cfg: Path) -> list[str]:
    cfg = configparser.ConfigParser()
    cfg.read(setup_cfg, encoding="utf-8")
    env = {"python_version": target, "python_full_version": f"{target}.0"}
    out = []
    for line in cfg["options"]["install_requires"].strip().splitlines():
        req = Requirement(line.strip())
        if req.marker is None or req.marker.evaluate(env):
            req.marker = None
            out.append(str(req))
    return out


if __name__ == "__main__":
    root = Path(__file__).resolve().parent.parent
    print("\n".join(requirements(sys.argv[1], root / "setup.cfg")))
