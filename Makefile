# Two commands matter: `make demo` (set up and run) and `make test` (lint + the whole suite).
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
SHELL_SCRIPTS := $(shell git ls-files '*.sh' 2>/dev/null) .ci/run

.PHONY: all deps venv demo demo-stop test lint format unit integration e2e commands bench clean

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
	shellcheck $(SHELL_SCRIPTS)
	cd ansible && ../$(VENV)/bin/ansible-lint --offline --profile production
	$(VENV)/bin/hadolint $(shell git ls-files '*Dockerfile*' 2>/dev/null)


format: venv
	$(VENV)/bin/ruff format lib plugins tests commands benchmarks images
	$(VENV)/bin/ruff check --fix lib plugins tests commands benchmarks images

test: deps venv lint
	$(PY) -m pytest

unit: venv
	$(PY) -m pytest tests/unit

e2e: deps venv
	$(PY) -m pytest -m e2e -s -p no:cacheprovider

integration: deps venv
	$(PY) -m pytest tests/integration

commands: venv
	$(PY) commands/generate.py

bench: deps venv
	$(PY) benchmarks/bench_check_container.py

clean:
	rm -rf $(VENV) build *.egg-info lib/*.egg-info .pytest_cache .mypy_cache .ruff_cache
