# devservers: one command per job. See README.md.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
ENV := eval "$$(toolchain/env.sh)"
# uv from PATH, else the one `make python` installs with pip.
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")

.PHONY: help bootstrap system python toolchain images env cluster-up cluster-down platform demo test test-unit lint bench

## help: this list
help:
	@sed -n 's/^## //p' $(MAKEFILE_LIST)

## bootstrap: Debian packages, Python environment, pinned engines, images (idempotent; cached by inputs)
bootstrap: system python toolchain images

## system: the Debian packages the project needs (apt-get as root; otherwise names them)
system:
	toolchain/system.sh

python:
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --frozen --compile-bytecode

toolchain:
	toolchain/bootstrap.sh

## images: the base, DevServer, sshd, reaper and sandbox images, built from Debian's packages (cached by inputs)
images: system python toolchain
	UV="$(UV)" images/build.sh >/dev/null

## env: shell exports for using pulumi, kubectl and devctl by hand
env:
	@toolchain/env.sh

## cluster-up: start the local cluster (a real node, kwok nodes; DEVSERVERS_CLUSTER_NAME for another)
cluster-up: images
	cluster/up.sh

## cluster-down: delete the local cluster, undo the real node's host state, forget its stacks
cluster-down:
	cluster/down.sh

## platform: `pulumi up --refresh` of the local cluster's platform stack (default: local, config from Pulumi.example.yaml)
# The stack's config file, Pulumi.$(PLATFORM_STACK).yaml (ignored by git), is copied
# from PLATFORM_CONFIG on every run; the encryptionsalt that `pulumi stack init` wrote
# there comes back from the stack's state (PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER).
# No tracked file changes.
PLATFORM_STACK ?= local
PLATFORM_CONFIG ?= Pulumi.example.yaml
PLATFORM_STATE ?= $(CURDIR)/.cluster/$(or $(DEVSERVERS_CLUSTER_NAME),devservers)-state/platform
platform:
	mkdir -p "$(PLATFORM_STATE)"
	cp "$(PLATFORM_CONFIG)" "Pulumi.$(PLATFORM_STACK).yaml"
	$(ENV) && export PULUMI_BACKEND_URL="$${PULUMI_BACKEND_URL:-file://$(PLATFORM_STATE)}" \
	  PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER=true \
	  && { [[ -v PULUMI_CONFIG_PASSPHRASE || -v PULUMI_CONFIG_PASSPHRASE_FILE ]] \
	       || export PULUMI_CONFIG_PASSPHRASE=; } \
	  && { pulumi stack select $(PLATFORM_STACK) 2>/dev/null || pulumi stack init $(PLATFORM_STACK); } \
	  && pulumi up --yes --refresh --stack $(PLATFORM_STACK)

## demo: bootstrap, local cluster, the example platform, a DevServer with a volume, listed, an SSH session
demo: bootstrap cluster-up platform
	cluster/demo.sh

## test: lint, then unit and integration tests (starts the local cluster if needed)
test: bootstrap lint cluster-up
	$(ENV) && python -m pytest

## test-unit: the quick loop, no engine, no cluster
test-unit: system python
	.venv/bin/python -m pytest -m "not integration"

## lint: ruff and the import layers contract
lint:
	.venv/bin/ruff check .
	.venv/bin/lint-imports

## bench: timings and memory on the local cluster → bench/results/latest.{json,md} (BENCH_ARGS=--help)
bench: bootstrap cluster-up
	$(ENV) && python bench/run.py $(BENCH_ARGS)
