# devservers: one command per job. See README.md.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
ENV := eval "$$(toolchain/env.sh)"

.PHONY: bootstrap python toolchain env cluster-up cluster-down demo test test-unit lint

## bootstrap: Python environment + pinned engines (idempotent; cached by pins)
bootstrap: python toolchain

python:
	@command -v uv >/dev/null || python3 -m pip install --quiet uv
	uv sync --frozen

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

## test: unit and integration tests (starts the local cluster if needed)
test: lint cluster-up
	$(ENV) && uv run --frozen pytest

## test-unit: the quick loop, no engine, no cluster
test-unit:
	uv run --frozen pytest -m "not integration"

lint:
	uv run --frozen ruff check .
	uv run --frozen lint-imports
