"""The production poller image's Dockerfile against images/versions (it cannot be built here: no
CentOS base, no Centreon repositories; hadolint checks its syntax, the Debian twin runs its files).
What Centreon's poller installation needs must be in it, each version pinned in one place."""

from __future__ import annotations

import re

import pytest

from tests.helpers import ROOT

IMAGES = ROOT / "images"
DOCKERFILE = (IMAGES / "centreon-engine" / "Dockerfile").read_text()
BUILD_ONLY = {"BUILD_DATE", "VCS_REF"}  # images/build.sh sets these per build


def versions(name: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in (IMAGES / name).read_text().splitlines() if re.match(r"^[A-Z]", line))
    return {k: v for k, v in pairs if not k.startswith("VMWARE_")}  # the connector image's own


def args() -> dict[str, str]:
    return dict(re.findall(r"^ARG ([A-Z0-9_]+)=(.*)$", DOCKERFILE, re.M))


@pytest.mark.parametrize("name", ["versions", "versions.almalinux9"])
def test_every_build_arg_is_pinned_in_the_versions_files_and_nothing_else_is(name: str) -> None:
    assert set(args()) - BUILD_ONLY == set(versions(name))


def test_the_dockerfile_defaults_are_the_versions_file() -> None:
    defaults = {k: v for k, v in args().items() if k not in BUILD_ONLY}
    assert defaults == versions("versions")


def test_both_repositories_of_centreon_release_and_the_poller_packages() -> None:
    repo = re.search(r"printf '(\[centreon-stable\].*?)' \\", DOCKERFILE)
    assert repo is not None
    assert "baseurl=%s/$basearch/" in repo.group(1) and "[centreon-stable-noarch]" in repo.group(1)
    assert "baseurl=%s/noarch/" in repo.group(1)
    assert versions("versions")["CENTREON_REPO_BASE"] == "https://yum.centreon.com/standard/19.04/el7/stable"
    assert versions("versions")["CENTREON_POLLER_PACKAGE"] == "centreon-poller-centreon-engine"
    for package in (
        '"${CENTREON_POLLER_PACKAGE}-${CENTREON_POLLER_VERSION}"',
        '"centreon-engine-${CENTREON_ENGINE_VERSION}"',
        '"centreon-broker-cbmod-${CENTREON_BROKER_VERSION}"',
        '"centreon-connector-perl-${CENTREON_CONNECTOR_VERSION}"',
        '"centreon-plugin-Virtualization-Vmware2-Connector-Plugin-${CENTREON_PLUGINS_VERSION}"',
        '"nagios-plugins-icmp-${NAGIOS_PLUGINS_VERSION}"',
        '"${MAILX_PACKAGE}-${MAILX_VERSION}"',
    ):
        assert package in DOCKERFILE, package
    # the build fails when what Centreon's commands call is not where they call it
    for path in (
        "/usr/lib64/nagios/plugins/check_icmp",
        "/usr/lib/centreon/plugins/centreon_vmware_connector_client.pl",
        "/usr/lib64/centreon-connector/centreon_connector_perl",
        "/bin/mail",
    ):
        assert f"test -x {path};" in DOCKERFILE, path
