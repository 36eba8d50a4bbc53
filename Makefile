# Two commands matter: `make demo` (set up and run) and `make test` (lint + the whole suite).
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
SHELL_SCRIPTS := $(shell git ls-files '*.sh' 2>/dev/null) .ci/run
# the Python files the CentOS 7 poller image runs with CentOS 7's python3 (3.6)
IMAGE_PY36 := images/centreon-engine/fetch_config.py

.PHONY: all deps venv venv-el7 demo demo-stop test test-py38 test-py36 test-ansible-el7 lint format unit integration e2e commands docs bench clean packages package-deps

all: test

deps:
	bash tests/env/install-deps.sh

$(VENV)/.installed: setup.cfg pyproject.toml $(wildcard plugins/*)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $@

venv: $(VENV)/.installed

demo: deps venv
	bash demo/demo.sh

demo-stop:
	bash demo/demo.sh stop

lint: venv
	$(VENV)/bin/ruff check lib plugins tests commands benchmarks images docs ansible/roles/*/files
	$(VENV)/bin/ruff format --check lib plugins tests commands benchmarks images docs ansible/roles/*/files
	$(VENV)/bin/mypy lib/
	# the layers and the clients' independence (setup.cfg [importlinter])
	$(VENV)/bin/lint-imports
	# no function in lib/ above radon's C (#25): a rule too branched to read is split into the rules it applies
	@complex="$$($(VENV)/bin/radon cc -s -n D lib)"; if [ -n "$$complex" ]; then echo "$$complex"; echo "radon: split these (C is the most lib/ allows)"; exit 1; fi
	shellcheck $(SHELL_SCRIPTS)
	# what runs on EL7 (the images' scripts, the Jenkins jobs) runs on bash 4.2: no "$${a[@]}" of an empty array under set -u
	$(PY) tests/bash42.py $(shell git ls-files 'images/*.sh' 'jenkins/*.sh' 2>/dev/null)
	cd ansible && ../$(VENV)/bin/ansible-lint --offline --profile production
	$(VENV)/bin/hadolint $(shell git ls-files '*Dockerfile*' 2>/dev/null)
	# The suite runs on the platform's Python: 3.8 on CentOS 7 (rh-python38, the EL7 RPM), so nothing newer
	# than 3.8; annotations stay unevaluated (ruff FA102 wants `from __future__ import annotations`), and
	# `make test-py38` runs the tests on 3.8 for what no linter sees (str methods, library calls).
	$(VENV)/bin/vermin -q -t=3.8- --violations --no-tips lib plugins commands packaging tests
	# What the CentOS 7 poller image runs with its own python3 (3.6): `make test-py36` runs it there too.
	$(VENV)/bin/vermin -q -t=3.6- --violations --no-tips --eval-annotations $(IMAGE_PY36)
	# the central's fetch forced command (ansible/central.yml) runs on CentOS 7's python3 too
	$(VENV)/bin/vermin -q -t=3.6- --violations --no-tips ansible/roles/centreon_central_fetch/files


format: venv
	$(VENV)/bin/ruff format lib plugins tests commands benchmarks images
	$(VENV)/bin/ruff check --fix lib plugins tests commands benchmarks images

test: deps venv lint package-deps
	$(PY) -m pytest
	$(MAKE) test-ansible-el7

# The Ansible that still manages CentOS 7 hosts (ansible/requirements.txt: ansible-core 2.16, ansible
# 9) in a venv of its own: ansible-lint and the docker_host role's tests (a real rollout included)
# run under it too. PFT_ANSIBLE_BIN names the ansible-playbook those tests run.
VENV_EL7 ?= .venv-el7
$(VENV_EL7)/.installed: ansible/requirements.txt
	$(PYTHON) -m venv $(VENV_EL7)
	$(VENV_EL7)/bin/pip install --quiet -r ansible/requirements.txt 'ansible-lint>=24'
	touch $@

venv-el7: $(VENV_EL7)/.installed

test-ansible-el7: deps venv venv-el7
	cd ansible && ../$(VENV_EL7)/bin/ansible-lint --offline --profile production
	PFT_ANSIBLE_BIN=$(CURDIR)/$(VENV_EL7)/bin $(PY) -m pytest tests/unit/test_ansible_requirements.py \
	  tests/integration/test_docker_host_units.py tests/integration/test_snmpd.py tests/integration/test_ansible_docker_host.py

# The same tests on the platforms' older Pythons, with interpreters from pyenv (tests/env/pyenv-python.sh:
# `pyenv root`, else $PYENV_ROOT, else ~/.pyenv); no such interpreter fails the target, it never skips.
# 3.8 is CentOS 7's rh-python38, where the EL7 package runs the suite: the unit suite and every test that
# runs the plugins, handlers and pollerfleet against the real dockerd, registry, sshd and the Jenkins
# stand-in, in a venv of its own with the EL7 package's constraints. Ansible, the twin and the packages
# are the controller's and the build machine's business: they run once, in `make test`.
VENV_PY38 ?= .venv-py38
PY38_TESTS := tests/unit $(addprefix tests/integration/test_,check_docker_host.py check_poller_container.py \
	check_poller_image.py check_poller_vmware.py docker_over_ssh.py redeploy_handler.py release_watch.py \
	reconcile.py fleet_sweep.py rollout.py)
PY38_MARKERS := not ansible and not twin and not e2e and not packages
# The handler tests that run as the engine's user (nagios here) need an interpreter that user can read,
# and pyenv's sits under /root: they run in `make test` only, and are named here, not skipped unseen.
PY38_NOT_AS_ENGINE_USER := not engine_user and not test_a_trigger_whose_state_cannot_be_saved_is_still_audited

$(VENV_PY38)/.installed: setup.cfg pyproject.toml packaging/constraints-el7.txt tests/env/pyenv-python.sh
	py=$$(bash tests/env/pyenv-python.sh 3.8) && "$$py" -m venv --clear $(VENV_PY38)
	# pytest 8.4 dropped Python 3.8
	$(VENV_PY38)/bin/pip install --quiet --constraint packaging/constraints-el7.txt -e . 'pytest>=7,<8.4'
	touch $@

test-py38: deps venv $(VENV_PY38)/.installed
	$(VENV_PY38)/bin/python -c 'import sys; assert sys.version_info[:2] == (3, 8), sys.version'
	# the unit tests' Ansible oracle stays the main venv's (Ansible is the controller's tool, not the suite's)
	PFT_TOOLS_BIN=$(CURDIR)/$(VENV)/bin $(VENV_PY38)/bin/python -m pytest -p no:cacheprovider -m "$(PY38_MARKERS)" \
	  -k "$(PY38_NOT_AS_ENGINE_USER)" $(PY38_TESTS)

# 3.6 is CentOS 7's python3, the poller image's: its tests run what the image runs with it ($(IMAGE_PY36),
# the configuration fetch client) on 3.6, against the test sshd and the central's fetch account.
PY36_TESTS := tests/integration/test_fetch_config.py tests/integration/test_central_fetch.py
test-py36: deps venv
	py=$$(bash tests/env/pyenv-python.sh 3.6) && echo "test-py36: $(IMAGE_PY36) runs on $$py" && \
	  PFT_IMAGE_PYTHON=$$py $(PY) -m pytest -p no:cacheprovider $(PY36_TESTS)

unit: venv
	$(PY) -m pytest tests/unit

e2e: deps venv
	$(PY) -m pytest -m e2e -s -p no:cacheprovider

integration: deps venv
	$(PY) -m pytest tests/integration

commands: venv
	$(PY) commands/generate.py

# docs/configuration.md from the docstrings of lib/pollerfleet/core/config.py (a unit test fails when it is stale)
docs: venv
	$(PY) docs/gen_config_reference.py

# What building and testing the packages needs from outside, fetched once: the dependencies' wheels
# for each target (EL7, EL8/EL9, Debian 12) (PyPI, again only when the requirements change) and a Debian 12 root
# filesystem (this machine's apt sources, kept in ~/.cache).
WHEELHOUSE := build/wheelhouse/.fetched
$(WHEELHOUSE): setup.cfg packaging/requirements.py packaging/constraints-el7.txt packaging/build.sh $(VENV)/.installed
	bash packaging/build.sh wheelhouse
	touch $@

package-deps: deps $(WHEELHOUSE)
	bash packaging/debian12-rootfs.sh >/dev/null

# dist/centreon-poller-fleet-VERSION-1.el7.x86_64.rpm (CentOS/RHEL 7, rh-python38),
# dist/centreon-poller-fleet-VERSION-1.x86_64.rpm (EL8/EL9), dist/centreon-poller-fleet_VERSION-1_amd64.deb (Debian 12)
packages: $(WHEELHOUSE)
	bash packaging/build.sh packages

# the Debian peers (centreon-plugins) only here: the tests, and CI, do not need them
bench: deps venv
	bash benchmarks/bench-deps.sh
	$(PY) benchmarks/bench_inventory.py
	$(PY) benchmarks/bench_fleet_sweep.py --sizes 1000 10000
	$(PY) benchmarks/bench_check_container.py
	$(PY) benchmarks/bench_canary_rollout.py --sizes 60 1000

clean:
	rm -rf $(VENV) $(VENV_PY38) build dist *.egg-info lib/*.egg-info .pytest_cache .mypy_cache .ruff_cache
