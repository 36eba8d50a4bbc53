"""A real RPM-md repository for tests: small centreon-engine packages built with rpmbuild,
indexed with createrepo_c, served over HTTP from 127.0.0.1 (the standard library's http.server).

centreon_layout() lays the packages out as Centreon's 19.04 repositories are (the two of the
centreon-release-19.04 repository file): .../19.04/el7/stable/x86_64/ holds the x86_64 builds
(centreon-engine, centreon-broker-cbmod, centreon-connector), .../19.04/el7/stable/noarch/ the
release RPM, centreon-poller-centreon-engine and the plugin packs."""

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
BuildArch: {arch}
%description
A test package of the release watch.
%files
"""


def build_rpm(
    top: Path, name: str, version: str, release: str = "1.el7", mtime: float | None = None, arch: str = "noarch"
) -> Path:
    spec = top / f"{name}-{version}.spec"
    spec.write_text(SPEC.format(name=name, version=version, release=release, arch=arch))
    subprocess.run(
        ["rpmbuild", "-bb", "--target", arch, "--define", f"_topdir {top}", str(spec)], check=True, capture_output=True
    )
    rpm = top / "RPMS" / arch / f"{name}-{version}-{release}.{arch}.rpm"
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


STABLE = "19.04/el7/stable"


def centreon_layout(root: Path, top: Path, engines: list[tuple[str, float]]) -> dict[str, Path]:
    """ROOT/19.04/el7/stable/{x86_64,noarch}/ as Centreon publishes them: the engine releases
    (version, upstream since) and the broker module in x86_64/; centreon-release-19.04,
    centreon-poller-centreon-engine and a plugin pack in noarch/. Returns both directories."""
    arch = [build_rpm(top, "centreon-engine", v, mtime=t, arch="x86_64") for v, t in engines]
    arch.append(build_rpm(top, "centreon-broker-cbmod", "19.04.0", arch="x86_64"))
    noarch = [
        build_rpm(top, "centreon-release", "19.04", release="1.el7.centos"),
        build_rpm(top, "centreon-poller-centreon-engine", "19.04.5"),
        build_rpm(top, "centreon-plugin-Virtualization-Vmware2-Connector-Plugin", "20190704", release="1.el7.centos"),
    ]
    return {
        "x86_64": make_repo(root / STABLE / "x86_64", arch),
        "noarch": make_repo(root / STABLE / "noarch", noarch),
    }


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
