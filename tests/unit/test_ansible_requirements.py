"""ansible/requirements.txt and requirements.yml name an Ansible that still manages CentOS 7 hosts:
ansible-core 2.17 dropped Python 2.7 and 3.6 on managed hosts (EL 7's Pythons), community.docker
4 is not the line that keeps them; and what `make test-ansible-el7` runs under is that Ansible."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from tests.helpers import ROOT

ANSIBLE = ROOT / "ansible"


def requirements() -> dict[str, SpecifierSet]:
    lines = (ANSIBLE / "requirements.txt").read_text().splitlines()
    reqs = [Requirement(line.split("#")[0]) for line in lines if line.split("#")[0].strip()]
    return {r.name: r.specifier for r in reqs}


def test_the_agent_s_ansible_is_one_that_manages_el7() -> None:
    reqs = requirements()
    core, bundle = reqs["ansible-core"], reqs["ansible"]
    assert Version("2.16.14") in core and not any(Version(v) in core for v in ("2.15.13", "2.17.0", "2.18.1"))
    assert Version("9.13.0") in bundle and Version("10.0.0") not in bundle  # ansible 9 = ansible-core 2.16


def test_the_collections_keep_el7_and_have_the_modules_the_roles_use() -> None:
    collections = {c["name"]: SpecifierSet(c["version"].replace(" ", "")) for c in
                   yaml.safe_load((ANSIBLE / "requirements.yml").read_text())["collections"]}  # fmt: skip
    docker = collections["community.docker"]
    assert Version("3.5.0") not in docker  # docker_image_pull came with 3.6.0
    assert Version("3.13.3") in docker and Version("4.0.0") not in docker
    used = set()
    for tasks in (ANSIBLE / "roles").rglob("tasks/*.yml"):
        used |= {m for m in tasks.read_text().split() if m.startswith("community.") and m.endswith(":")}
    assert {m.rsplit(".", 1)[0] for m in used} <= {"community.docker"}, used  # every collection is listed


def test_the_readme_states_the_versions() -> None:
    readme = (ANSIBLE / "README.md").read_text()
    assert "ansible-core 2.16" in readme and "requirements.txt" in readme and "requirements.yml" in readme


@pytest.mark.skipif(not os.environ.get("PFT_ANSIBLE_BIN"), reason="make test-ansible-el7 sets PFT_ANSIBLE_BIN")
def test_the_el7_run_uses_that_ansible() -> None:
    bin_dir = Path(os.environ["PFT_ANSIBLE_BIN"])
    out = subprocess.run([str(bin_dir / "ansible-playbook"), "--version"], capture_output=True, text=True, check=True)
    version = Version(out.stdout.split("[core ")[1].split("]")[0])
    assert version in requirements()["ansible-core"]
    listed = subprocess.run([str(bin_dir / "ansible-galaxy"), "collection", "list", "community.docker"],
                            capture_output=True, text=True, check=True).stdout  # fmt: skip
    found = [Version(line.split()[1]) for line in listed.splitlines() if line.startswith("community.docker ")]
    wanted = SpecifierSet(yaml.safe_load((ANSIBLE / "requirements.yml").read_text())["collections"][0]["version"])
    assert found and all(v in wanted for v in found), listed
