"""The Jenkinsfiles only run the repository's job scripts, with the parameters the suite sends
(the scripts themselves run in the integration tests, from the Jenkins stand-in)."""

from __future__ import annotations

import re

import pytest

from pollerfleet.actions.decide import IMAGE_PARAMETER, PREPARE_PARAMETER
from pollerfleet.actions.promote import ACTION_PARAMETER
from pollerfleet.core.config import JenkinsSettings
from tests.helpers import ROOT

JOBS = {
    "deploy-centreon-poller": (
        "jenkins/deploy-poller.sh",
        {JenkinsSettings().deploy_parameter, IMAGE_PARAMETER, PREPARE_PARAMETER},
    ),
    "build-centreon-poller": ("jenkins/build-poller.sh", {JenkinsSettings().build_parameter}),
    "promote-centreon-poller": ("jenkins/promote-poller.sh", {ACTION_PARAMETER, IMAGE_PARAMETER}),
}


@pytest.mark.parametrize("job", sorted(JOBS))
def test_the_jenkinsfile_declares_the_suites_parameters_and_runs_the_script(job: str) -> None:
    script, wanted = JOBS[job]
    text = (ROOT / "jenkins" / f"{job}.Jenkinsfile").read_text()
    declared = set(re.findall(r"(?:string|booleanParam|choice)\(name: '([A-Z_]+)'", text))
    assert wanted <= declared, declared
    assert f"sh '{script}" in text
    assert (ROOT / script).stat().st_mode & 0o111  # executable, as Jenkins' sh step runs it
    code = "\n".join(line for line in text.splitlines() if not line.strip().startswith("//"))
    assert "ansible-playbook" not in code and "images/build.sh" not in code  # the logic is in the script


def test_the_deploy_job_refuses_an_empty_hostname_before_the_script_runs() -> None:
    # Jenkins leaves an empty parameter out of the step's environment, and bash then fills HOSTNAME
    # with the agent's own name: the Jenkinsfile stops there (the script refuses it too)
    text = (ROOT / "jenkins" / "deploy-centreon-poller.Jenkinsfile").read_text()
    code = "\n".join(line for line in text.splitlines() if not line.strip().startswith("//"))
    branch = re.search(r"if \(hosts\.isEmpty\(\)\) \{(.*?)\} else \{", code, re.S)
    assert branch, code
    assert "error(" in branch.group(1) and "sh " not in branch.group(1)
