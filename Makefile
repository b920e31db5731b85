# The two commands: `make dev` (local stack) and `make test` (full suite). Both set up .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt services/requirements.txt services/orders/requirements.txt constraints.txt | cksum | cut -d' ' -f1)
# The tests' npm tools (package.json: asl-validator), installed only where npm exists; else skipped.
NODE_STAMP := node_modules/.installed-$(shell cat package.json package-lock.json | cksum | cut -d' ' -f1)
TEST_TOOLS := $(if $(shell command -v npm 2>/dev/null),$(NODE_STAMP))

.DEFAULT_GOAL := help
.PHONY: help install dev dev-reset test test-fast fuzz openapi smoke lint format constraints clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed: run make with PYTHON=python3.12, for example")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip==26.3
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP) ## create .venv with the pinned dependencies

$(NODE_STAMP):
	npm ci --no-audit --no-fund
	touch $(NODE_STAMP)

dev: install ## start the local stack in the foreground (Ctrl-C stops it; data is kept in .local/)
	$(BIN)/python -m local

dev-reset: install ## start the local stack from a clean state
	$(BIN)/python -m local --reset

test: install $(TEST_TOOLS) ## run the full test suite (unit, integration, infra, end-to-end)
	$(BIN)/python -m pytest

test-fast: install $(TEST_TOOLS) ## everything but the end-to-end tests
	$(BIN)/python -m pytest -m "not e2e"

# FUZZ_EXAMPLES: schemathesis examples per operation (make test runs the fuzz test with 15).
FUZZ_EXAMPLES ?= 500

fuzz: install ## fuzz every operation of the local stack with schemathesis (FUZZ_EXAMPLES=500)
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest tests/e2e/test_fuzz.py

openapi: install ## regenerate docs/openapi.json from the code
	$(BIN)/python -m services.openapi

# Benchmarks report ratios against a baseline measured in the same run; they never fail on timing.
# BENCH_BEFORE: the commit measured beside this checkout (the last one before the performance work).
BENCH_BEFORE ?= 54bb8e6
BENCH_OPTIONS = $(if $(BENCH_BEFORE),--before $(BENCH_BEFORE))
.PHONY: bench
bench: install ## measure cold starts, warm overhead, round trips, artifacts, the local pipeline
	$(BIN)/python -m bench.cold_start $(BENCH_OPTIONS)
	$(BIN)/python -m bench.deployed
	$(BIN)/python -m bench.warm $(BENCH_OPTIONS)
	$(BIN)/python -m bench.round_trips $(BENCH_OPTIONS)
	$(BIN)/python -m bench.artifacts $(BENCH_OPTIONS)
	$(BIN)/python -m bench.pipeline $(BENCH_OPTIONS)
	$(BIN)/python -m bench.report

# `make smoke` writes the deployed stack's outputs here (STACK names the stack; the selected one
# otherwise); SMOKE_STACK=.local/stack.json drives the stack `make dev` runs instead. pytest's
# --confcutdir keeps tests/conftest.py, which swaps in fake AWS credentials for every other test,
# out: the smoke tests use the deployer's own (they create and delete a Cognito user).
SMOKE_STACK ?= .smoke/stack.json

smoke: install ## end-to-end checks against a deployed stack (STACK=dev-you, or SMOKE_STACK=file)
ifeq ($(SMOKE_STACK),.smoke/stack.json)
	@command -v pulumi >/dev/null || { echo "make smoke needs the Pulumi CLI (or SMOKE_STACK=<stack file>)"; exit 1; }
	@mkdir -p .smoke && echo '*' > .smoke/.gitignore
	pulumi stack output --json $(if $(STACK),--stack $(STACK)) > .smoke/stack.json.tmp
	@mv .smoke/stack.json.tmp .smoke/stack.json
endif
	SMOKE_STACK=$(SMOKE_STACK) $(BIN)/python -m pytest tests/smoke --confcutdir=tests/smoke

lint: install ## ruff (lint and format) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

constraints: install ## re-pin every transitive dependency from the current .venv
	(echo "# Every transitive dependency pinned, from a working install (regenerate: make constraints)."; \
	 $(BIN)/pip freeze --exclude-editable) > constraints.txt

clean: ## remove the virtualenv, build output and local state
	rm -rf $(VENV) .build .local .smoke .pytest_cache .mypy_cache .ruff_cache
