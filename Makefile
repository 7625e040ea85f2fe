# devservers: one command per job. See README.md.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
ENV := eval "$$(toolchain/env.sh)"
# uv from PATH, else the one `make python` installs with pip.
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")

.PHONY: bootstrap python toolchain env cluster-up cluster-down demo test test-unit lint

## bootstrap: Python environment + pinned engines (idempotent; cached by pins)
bootstrap: python toolchain

python:
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --frozen

toolchain:
	toolchain/bootstrap.sh

## env: shell exports for using pulumi, kubectl and devctl by hand
env:
	@toolchain/env.sh

cluster-up:
	cluster/up.sh

cluster-down:
	cluster/down.sh

## demo: bootstrap, local cluster, a DevServer with a volume, listed
demo: bootstrap cluster-up
	cluster/demo.sh

## test: lint, then unit and integration tests (starts the local cluster if needed)
test: lint cluster-up
	$(ENV) && python -m pytest

## test-unit: the quick loop, no engine, no cluster
test-unit:
	.venv/bin/python -m pytest -m "not integration"

lint:
	.venv/bin/ruff check .
	.venv/bin/lint-imports
