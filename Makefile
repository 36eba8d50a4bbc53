# Two commands matter: `make demo` (set up and run) and `make test` (lint + the whole suite).
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
SHELL_SCRIPTS := $(shell git ls-files '*.sh' 2>/dev/null) .ci/run
# the Python files the CentOS 7 poller image runs with CentOS 7's python3 (3.6)
IMAGE_PY36 := images/centreon-engine/fetch_config.py

.PHONY: all deps venv demo demo-stop test lint format unit integration e2e commands bench clean packages package-deps

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
	$(VENV)/bin/ruff check lib plugins tests commands benchmarks images
	$(VENV)/bin/ruff format --check lib plugins tests commands benchmarks images
	$(VENV)/bin/mypy lib/
	# the layers and the clients' independence (setup.cfg [importlinter])
	$(VENV)/bin/lint-imports
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


format: venv
	$(VENV)/bin/ruff format lib plugins tests commands benchmarks images
	$(VENV)/bin/ruff check --fix lib plugins tests commands benchmarks images

test: deps venv lint package-deps
	$(PY) -m pytest

unit: venv
	$(PY) -m pytest tests/unit

e2e: deps venv
	$(PY) -m pytest -m e2e -s -p no:cacheprovider

integration: deps venv
	$(PY) -m pytest tests/integration

commands: venv
	$(PY) commands/generate.py

# What building and testing the packages needs from outside, fetched once: the dependencies' wheels
# for each target Python (PyPI, again only when the requirements change) and a Debian 12 root
# filesystem (this machine's apt sources, kept in ~/.cache).
WHEELHOUSE := build/wheelhouse/.fetched
$(WHEELHOUSE): setup.cfg packaging/requirements.py $(VENV)/.installed
	bash packaging/build.sh wheelhouse
	touch $@

package-deps: deps $(WHEELHOUSE)
	bash packaging/debian12-rootfs.sh >/dev/null

# dist/centreon-poller-fleet_VERSION-1_amd64.deb (Debian 12), dist/centreon-poller-fleet-VERSION-1.x86_64.rpm (EL8/EL9)
packages: $(WHEELHOUSE)
	bash packaging/build.sh packages

# the Debian peers (centreon-plugins) only here: the tests, and CI, do not need them
bench: deps venv
	bash benchmarks/bench-deps.sh
	$(PY) benchmarks/bench_check_container.py

clean:
	rm -rf $(VENV) build dist *.egg-info lib/*.egg-info .pytest_cache .mypy_cache .ruff_cache
