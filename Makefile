# Parvis — the stable entry points. `make help` lists them.
# Only Python 3.11+ and make are needed: everything else is installed by these targets.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml verifier/pyproject.toml | cksum | cut -d' ' -f1)
NODE_STAMP := web/node_modules/.installed-$(shell cat web/package-lock.json 2>/dev/null | cksum | cut -d' ' -f1)
PACKAGES := parvis identity ballot consent audit
# The verifier distribution's package (verifier/, ADR 0020), type-checked from its source tree.
MYPY_MODULES := $(addprefix -p ,$(PACKAGES) parvis_verifier)
PYTEST_ARGS ?=
BENCH_ARGS ?= --quick

.DEFAULT_GOAL := help
.PHONY: help demo test lint typecheck contracts pytest bench install node-deps system-deps bench-deps clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

# The verifier distribution (verifier/, ADR 0020) is installed from the source tree before
# the server that depends on it; its three dependencies are in the lock.
$(STAMP): requirements.lock pyproject.toml verifier/pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --require-hashes -r requirements.lock
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps -e ./verifier
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps -e .
	@rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP) ## Create .venv and install the locked Python dependencies

$(NODE_STAMP): web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
	@rm -f web/node_modules/.installed-* && touch $@

BUNDLES := ballot/static/booth.js ballot/static/tracker.js ballot/static/election.js
WEB_SOURCES := $(wildcard web/src/*.ts web/src/lib/*.ts)

# The booth, tracker and election page bundles (esbuild); built, never committed.
$(BUNDLES) &: $(NODE_STAMP) $(WEB_SOURCES) web/package.json
	npm --prefix web run build

ifneq ($(wildcard web/package.json),)
node-deps: $(NODE_STAMP) $(BUNDLES) ## Install the locked npm packages and build the booth bundles
else
node-deps:
endif

system-deps: ## Install PostgreSQL server binaries when missing (as root; else print the command)
	@scripts/ensure-system-deps.sh

bench-deps: ## system-deps, plus Debian's belenios-tool (bench/encrypted.py's anchor)
	@scripts/ensure-system-deps.sh bench

demo: $(STAMP) node-deps ## Run Parvis on http://127.0.0.1:8000 (PORT=N for another port) with the embedded SQLite defaults
	$(BIN)/parvis demo $(if $(PORT),--port $(PORT))

lint: $(STAMP) ## ruff (lint and format check)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP) node-deps ## mypy --strict on every package; tsc on the booth
	$(BIN)/mypy --strict $(MYPY_MODULES)
	npm --prefix web run typecheck

contracts: $(STAMP) ## import-linter: the dependency rule of architecture.md
	$(BIN)/lint-imports

pytest: $(STAMP) node-deps system-deps ## The test suite on SQLite and on a real PostgreSQL
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck contracts pytest ## Everything CI runs: lint, types, contracts, tests

bench: $(STAMP) node-deps bench-deps ## Run every benchmark in bench/ (BENCH_ARGS=--quick by default)
	@set -e; for script in bench/*.py; do \
	  echo "== $$script"; $(BIN)/python $$script $(BENCH_ARGS); done

clean: ## Remove the virtualenv, node_modules and caches (keeps ./var)
	rm -rf $(VENV) web/node_modules .mypy_cache .ruff_cache .pytest_cache .hypothesis
