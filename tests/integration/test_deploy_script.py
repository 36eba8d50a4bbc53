"""jenkins/deploy-poller.sh refuses bad input before anything runs: one clear line, exit 64,
nothing deployed. Run from the repository root with the environment Jenkins gives, as the job does.
(The script's successful path runs in the end-to-end test, from the Jenkins stand-in.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT, Docker, write_fleet_config
from tests.registry_tools import build_and_push

pytestmark = [pytest.mark.docker, pytest.mark.registry]
BIN = Path(sys.executable).parent
GOOD_DIGEST = "sha256:" + "a" * 64


@pytest.fixture(scope="module")
def fleet(docker: Docker, registry: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("deploy-script")
    repo = f"{registry}/{docker.prefix.rstrip('-')}/deploy-script"
    build_and_push(docker, f"{repo}:19.04.5", "19.04.5")
    build_and_push(docker, f"{repo}:19.04.6", "19.04.6")
    inv = tmp / "inventory.yml"
    host = {"poller_docker_url": "unix:///nonexistent/docker.sock", "ansible_connection": "local"}
    inv.write_text(
        json.dumps(
            {
                "all": {
                    "vars": {"poller_image_repository": repo},
                    "children": {
                        "pollers": {"hosts": {"poller01": host, "poller02": {**host, "poller_image_tag": "19.04.5"}}}
                    },
                }
            }
        )
    )
    cfg = write_fleet_config(tmp, registry_address=registry, inventory=inv)
    # a registry that does not answer (nothing listens on 127.0.0.1:9)
    (tmp / "down").mkdir()
    down_inv = tmp / "down" / "inventory.yml"
    down_inv.write_text(inv.read_text().replace(registry, "127.0.0.1:9"))
    down = write_fleet_config(tmp / "down", registry_address="127.0.0.1:9", inventory=down_inv)
    return {"repo": repo, "inventory": str(inv), "config": str(cfg), "down": str(down), "down_inventory": str(down_inv)}


def deploy(
    fleet: dict[str, str], config: str = "", inventory: str = "", **params: str
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PATH": f"{BIN}:{os.environ['PATH']}",
        "POLLERFLEET_CONFIG": config or fleet["config"],
        "INVENTORY": inventory or fleet["inventory"],
        "PREPARE_HOST": "false",
        **params,
    }
    return subprocess.run(
        ["jenkins/deploy-poller.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"HOSTNAME": ""}, "HOSTNAME is empty"),
        ({"HOSTNAME": "poller01;reboot"}, "is not a valid host name (RFC 1123)"),
        ({"HOSTNAME": "poller01", "PREPARE_HOST": "yes"}, "PREPARE_HOST must be true or false"),
        ({"HOSTNAME": "poller01", "REFRESH_VMWARE": "1"}, "REFRESH_VMWARE must be true or false"),
        ({"HOSTNAME": "poller01", "POLLER_IMAGE": "{repo}:latest@" + GOOD_DIGEST}, "is not REPOSITORY:RELEASE-TAG@"),
        ({"HOSTNAME": "poller01", "POLLER_IMAGE": "{repo}:19.04.5@sha256:abc"}, "is not REPOSITORY:RELEASE-TAG@"),
        ({"HOSTNAME": "poller01", "POLLER_IMAGE": "{repo}:19.04.5"}, "is not REPOSITORY:RELEASE-TAG@"),
        ({"HOSTNAME": "poller01", "ANSIBLE_EXTRA_ARGS": "-e poller_image=x"}, "ANSIBLE_EXTRA_ARGS may not set -e"),
        ({"HOSTNAME": "poller01 poller99"}, "poller99 is not in the inventory group [pollers]"),
        (
            {"HOSTNAME": "poller01", "POLLER_IMAGE": "evil.example:5000/centreon/engine:19.04.5@" + GOOD_DIGEST},
            "is not the repository of poller01",
        ),
        ({"HOSTNAME": "poller01", "POLLER_IMAGE": "{repo}:19.04.6@" + GOOD_DIGEST}, "refusing a digest the registry"),
        ({"HOSTNAME": "poller02", "POLLER_IMAGE": "{repo}:19.04.6@" + GOOD_DIGEST}, "poller02 is held at 19.04.5"),
    ],
)
def test_bad_input_is_refused_before_anything_runs(fleet: dict[str, str], params: dict[str, str], message: str) -> None:
    r = deploy(fleet, **{k: v.format(repo=fleet["repo"]) for k, v in params.items()})
    assert r.returncode == 64, r.stdout + r.stderr
    assert message in r.stderr, r.stderr
    assert "ansible-playbook" not in r.stdout + r.stderr and "PLAY [" not in r.stdout  # nothing deployed
    assert "Traceback" not in r.stderr


def test_an_unreadable_registry_stops_the_deploy(fleet: dict[str, str]) -> None:
    r = deploy(fleet, config=fleet["down"], inventory=fleet["down_inventory"], HOSTNAME="poller01")
    assert r.returncode == 64, r.stdout + r.stderr
    assert "cannot read the registry" in r.stderr and "nothing deployed" in r.stderr
    assert "PLAY [" not in r.stdout
