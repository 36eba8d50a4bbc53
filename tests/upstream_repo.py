"""A real RPM-md repository for tests: small centreon-engine packages built with rpmbuild,
indexed with createrepo_c, served over HTTP from 127.0.0.1 (the standard library's http.server)."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

SPEC = """Name: {name}
Version: {version}
Release: {release}
Summary: pollerfleet test package
License: GPLv2
BuildArch: noarch
%description
A test package of the release watch.
%files
"""


def build_rpm(top: Path, name: str, version: str, release: str = "1.el7", mtime: float | None = None) -> Path:
    spec = top / f"{name}-{version}.spec"
    spec.write_text(SPEC.format(name=name, version=version, release=release))
    subprocess.run(["rpmbuild", "-bb", "--define", f"_topdir {top}", str(spec)], check=True, capture_output=True)
    rpm = top / "RPMS" / "noarch" / f"{name}-{version}-{release}.noarch.rpm"
    if mtime is not None:
        os.utime(rpm, (mtime, mtime))  # createrepo_c records the file time: "upstream since"
    return rpm


def make_repo(root: Path, rpms: list[Path], compress: str = "gz") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for rpm in rpms:
        shutil.copy2(rpm, root / rpm.name)
    args = ["createrepo_c", "-q", "--general-compress-type", compress, str(root)]
    subprocess.run(args, check=True, capture_output=True)
    return root


class Server:
    """http.server on 127.0.0.1 serving DIRECTORY; counts requests."""

    def __init__(self, directory: Path) -> None:
        handler = functools.partial(_Quiet, directory=str(directory))
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # silence the default log
        return
