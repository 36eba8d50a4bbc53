"""jenkins/deploy-poller.sh refuses bad input before anything runs: one clear line, exit 64,
nothing deployed. Run from the repository root with the environment Jenkins gives, as the job does.
(The script's successful path runs in the end-to-end test, from the Jenkins stand-in.)

Where a test needs `pollerfleet desired` to answer something the real command never would (a
registry's hostile digest that got past the client), POLLERFLEET names a one-answer fake; the
ansible-playbook that would run is the real one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.helpers import ROOT, Docker, wait_for, write_fleet_config
from tests.registry_tools import build_and_push
from tests.standins.jenkins import JenkinsStandin, Job

pytestmark = [pytest.mark.docker, pytest.mark.registry]
BIN = Path(sys.executable).parent
GOOD_DIGEST = "sha256:" + "a" * 64
AGENT = os.uname().nodename  # the machine the job runs on: what bash puts in an unset HOSTNAME


@pytest.fixture(scope="module")
def fleet(docker: Docker, registry: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("deploy-script")
    repo = f"{registry}/{docker.prefix.rstrip('-')}/deploy-script"
    build_and_push(docker, f"{repo}:19.04.5", "19.04.5")
    build_and_push(docker, f"{repo}:19.04.6", "19.04.6")
    inv = tmp / "inventory.yml"
    host = {
        "poller_docker_url": "unix:///nonexistent/docker.sock",
        "ansible_connection": "local",
        "ansible_python_interpreter": "{{ ansible_playbook_python }}",
        "ansible_become": False,
        "poller_central_host": "central.invalid",
        "centreon_poller_base_dir": str(tmp / "srv"),
    }
    inv.write_text(
        json.dumps(
            {
                "all": {
                    "vars": {"poller_image_repository": repo},
                    "children": {
                        # the agent's own name is a poller too: a deploy to it would go ahead
                        "pollers": {
                            "hosts": {
                                "poller01": host,
                                "poller02": {**host, "poller_image_tag": "19.04.5"},
                                AGENT: host,
                            }
                        }
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
    return {
        "repo": repo,
        "inventory": str(inv),
        "config": str(cfg),
        "down": str(down),
        "down_inventory": str(down_inv),
        "tmp": str(tmp),
    }


def deploy(
    fleet: dict[str, str], config: str = "", inventory: str = "", unset: tuple[str, ...] = (), **params: str
) -> subprocess.CompletedProcess[str]:
    env = {
        **{k: v for k, v in os.environ.items() if k not in unset},
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
        ({"HOSTNAME": "poller01", "ANSIBLE_EXTRA_ARGS": "-e poller_image=x"}, "EXTRA_ARGS may not contain '-e'"),
        # the prefixes and clusters ansible-playbook accepts, and options that run commands
        ({"HOSTNAME": "poller01", "ANSIBLE_EXTRA_ARGS": "--extra-var=poller_image=x"}, "may not contain '--extra-var="),
        ({"HOSTNAME": "poller01", "ANSIBLE_EXTRA_ARGS": "--lim=poller02"}, "may not contain '--lim=poller02'"),
        ({"HOSTNAME": "poller01", "ANSIBLE_EXTRA_ARGS": "--inventory-file=/x"}, "may not contain '--inventory-file="),
        ({"HOSTNAME": "poller01", "ANSIBLE_EXTRA_ARGS": "-v -vepoller_image=x"}, "may not contain '-vepoller_image=x'"),
        ({"HOSTNAME": "poller01", "ANSIBLE_EXTRA_ARGS": "--ssh-common-args=-oProxyCommand=id"}, "may not contain"),
        ({"HOSTNAME": "poller01", "ANSIBLE_EXTRA_ARGS": "--diff -vvvvv"}, "may not contain '-vvvvv'"),
        ({"HOSTNAME": "poller01", "ANSIBLE_EXTRA_ARGS": "--forks 5"}, "may not contain '--forks'"),
        ({"HOSTNAME": "poller01", "ANSIBLE_EXTRA_ARGS": "--forks=0"}, "--forks takes a number from 1 to 999"),
        ({"HOSTNAME": "poller01", "ANSIBLE_EXTRA_ARGS": "--forks=5x"}, "--forks takes a number from 1 to 999"),
        ({"HOSTNAME": AGENT}, "HOSTNAME is this agent's own name"),  # a login profile's export
        ({"HOSTNAME": f"poller01 {AGENT.upper()}"}, "HOSTNAME is this agent's own name"),
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


def test_an_unset_hostname_is_not_the_agents_own_name(fleet: dict[str, str]) -> None:
    # bash sets HOSTNAME to the machine's name when the environment has none; the agent is a poller
    # of this inventory, so taking it would deploy there
    r = deploy(fleet, unset=("HOSTNAME",))
    assert r.returncode == 64, r.stdout + r.stderr
    assert "HOSTNAME is empty" in r.stderr, r.stderr
    assert AGENT + " ->" not in r.stderr and "PLAY [" not in r.stdout


def _trigger(standin: JenkinsStandin, job: str, **params: str) -> None:
    """Build with Parameters through the remote API, as the suite triggers the job."""
    auth = ("pollerfleet", "token")
    crumb = requests.get(f"{standin.url}crumbIssuer/api/json", auth=auth, timeout=10).json()["crumb"]
    r = requests.post(
        f"{standin.url}job/{job}/buildWithParameters",
        params=params,
        auth=auth,
        headers={"Jenkins-Crumb": crumb},
        timeout=10,
    )
    assert r.status_code == 201, r.text


@pytest.mark.jenkins
@pytest.mark.parametrize("profile_exports_hostname", [False, True])
def test_the_job_with_an_empty_hostname_deploys_nowhere(
    fleet: dict[str, str], tmp_path: Path, profile_exports_hostname: bool
) -> None:
    # Jenkins leaves the empty parameter out of the step's environment: what the script sees is
    # bash's own HOSTNAME, or the one the agent's login profile exported (EL7's /etc/profile does)
    agent_env = {k: v for k, v in os.environ.items() if k != "HOSTNAME"}
    agent_env.update(
        {"PATH": f"{BIN}:{os.environ['PATH']}", "POLLERFLEET_CONFIG": fleet["config"], "INVENTORY": fleet["inventory"]}
    )
    if profile_exports_hostname:
        agent_env["HOSTNAME"] = AGENT
    job = Job(
        "deploy-centreon-poller",
        ["HOSTNAME", "POLLER_IMAGE", "PREPARE_HOST"],
        defaults={"PREPARE_HOST": "false"},
        command=["jenkins/deploy-poller.sh"],
        cwd=str(ROOT),
        env=agent_env,
        log_dir=str(tmp_path),
    )
    standin = JenkinsStandin({"pollerfleet": "token"}, [job]).start()
    try:
        _trigger(standin, job.name, HOSTNAME="", PREPARE_HOST="false")
        wait_for(lambda: bool(standin.builds_of(job.name)) and not standin.builds_of(job.name)[0].building, 120)
        build = standin.builds_of(job.name)[0]
    finally:
        standin.stop()
    log = (tmp_path / f"{job.name}-1.log").read_text()
    assert build.result == "FAILURE", log
    assert ("HOSTNAME is empty" in log) != profile_exports_hostname, log
    assert ("this agent's own name" in log) == profile_exports_hostname, log
    assert "PLAY [" not in log and f"{AGENT} ->" not in log


def fake_pollerfleet(tmp: Path, desired: str, name: str = "pollerfleet") -> str:
    """A pollerfleet whose `desired` answers DESIRED and whose `verify` says yes."""
    path = tmp / name
    (tmp / f"{name}.answer").write_text(desired)
    path.write_text(f'#!/bin/sh\n[ "$1" = desired ] && exec cat {tmp / (name + ".answer")}\nexit 0\n')
    path.chmod(0o755)
    return str(path)


@pytest.mark.parametrize(
    "answer",
    [
        "poller01 {repo}:19.04.5@sha256:{{{{ lookup('pipe', 'touch {marker}') }}}}",  # the registry's Jinja
        "poller01 {repo}:19.04.5@sha256:abc",
        "poller01 {repo}:19.04.5@sha512:" + "a" * 128,
        "poller01 {repo}:19.04.5@" + GOOD_DIGEST + " -e poller_image=x",
        "poller02 {repo}:19.04.5@" + GOOD_DIGEST,  # a host not asked for
        "poller01 {repo}:19.04.5@" + GOOD_DIGEST + "\npoller01 {repo}:19.04.6@" + GOOD_DIGEST,
    ],
)
def test_what_desired_answers_is_checked_again(fleet: dict[str, str], tmp_path: Path, answer: str) -> None:
    marker = tmp_path / "templated"
    fake = fake_pollerfleet(tmp_path, answer.format(repo=fleet["repo"], marker=marker) + "\n")
    r = deploy(fleet, HOSTNAME="poller01", POLLERFLEET=fake)
    assert r.returncode == 64, r.stdout + r.stderr
    assert "pollerfleet desired answered" in r.stderr and "nothing deployed" in r.stderr, r.stderr
    assert "PLAY [" not in r.stdout
    assert not marker.exists()


def test_values_reach_ansible_as_data_never_as_templates(fleet: dict[str, str], tmp_path: Path) -> None:
    # the ansible-playbook the script runs records how it was called; then the real one gets the
    # same extra-vars file with a template in the value, and must not run it
    target = f"{fleet['repo']}:19.04.5@{GOOD_DIGEST}"
    fake = fake_pollerfleet(tmp_path, f"poller01 {target}\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "argv"
    (bin_dir / "ansible-playbook").write_text(
        "#!/bin/bash\n"
        f'printf "%s\\n" "$@" >> {record}\n'
        'for a in "$@"; do case "$a" in @*) cp "${a#@}" ' + str(tmp_path / "vars.yml") + ";; esac; done\n"
    )
    (bin_dir / "ansible-playbook").chmod(0o755)
    r = deploy(
        fleet,
        HOSTNAME="poller01",
        POLLERFLEET=fake,
        REFRESH_VMWARE="true",
        ANSIBLE_EXTRA_ARGS="-vv --diff --forks=3",
        PATH=f"{bin_dir}:{BIN}:{os.environ['PATH']}",
        TMPDIR=str(tmp_path),
    )
    assert r.returncode == 0, r.stdout + r.stderr
    argv = record.read_text().splitlines()
    assert not any("poller_image" in a or ("=" in a and not a.startswith("--forks=")) for a in argv), argv
    assert argv[-3:] == ["-vv", "--diff", "--forks=3"], argv
    vars_text = (tmp_path / "vars.yml").read_text()
    assert f"poller_image: !unsafe '{target}'\n" in vars_text, vars_text
    assert "poller_vmware_refresh: true\n" in vars_text
    assert not list(tmp_path.glob("deploy-poller.*"))  # the script removed its extra-vars files

    marker = tmp_path / "templated"
    hostile = vars_text.replace(GOOD_DIGEST, 'sha256:{{ lookup("pipe", "touch ' + str(marker) + '") }}')
    (tmp_path / "hostile.yml").write_text(hostile)
    play = subprocess.run(
        [
            *(str(BIN / "ansible-playbook"), "-i", fleet["inventory"], "ansible/deploy_poller.yml"),
            *("--limit", "poller01", "-e", f"@{tmp_path / 'hostile.yml'}"),
        ],
        cwd=ROOT,
        env={**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible" / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert play.returncode != 0 and "refusing to deploy" in play.stdout, play.stdout[-3000:]
    assert not marker.exists()
