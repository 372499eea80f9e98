# The README's commands. Every target sets up what it needs on first use.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
DEMO_ARGS ?=  # e.g. make demo DEMO_ARGS=--registry
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: help setup runtime tools demo test unit integration native-test lint clippy typecheck \
	format bench chaos clean
.DEFAULT_GOAL := help

help:  ## this list
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-12s %s\n", $$1, $$2}'

# The install also builds the decision engine (native/) into consumer/_native: redo it when
# that source changes.
$(STAMP): pyproject.toml native/Cargo.toml $(shell find native/src -name '*.rs')
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test,dev,dashboard]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

setup: runtime tools  ## everything the tests need (cached; a cold machine takes ~15 min)

runtime: $(STAMP)  ## virtualenv + dependencies, Kafka jars, the schema registry (cached)
	$(BIN)/python -m consumer.local.kafka fetch
	$(BIN)/python -m consumer.local.registry fetch

tools:  ## helm, promtool + prometheus, etcd, kube-apiserver, CRDs (cached; .ci/tools.sh)
	bash .ci/tools.sh

demo: runtime  ## run the product on a local broker it starts itself (--registry: Confluent format)
	$(BIN)/infusion-validator demo $(DEMO_ARGS)

test: lint typecheck native-test setup  ## everything CI runs: lint, types, cargo test, unit and integration tests
	$(BIN)/pytest

native-test:  ## the engine's own tests and the golden cases, without Python
	cargo test --quiet --release --no-default-features --manifest-path native/Cargo.toml

unit: $(STAMP)  ## the hermetic tests only (no broker)
	$(BIN)/pytest tests/unit

integration: setup  ## the tests on a real broker and the other real components
	$(BIN)/pytest tests/integration

lint: $(STAMP)  ## ruff, ruff format, cargo fmt, clippy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	cargo fmt --manifest-path native/Cargo.toml --check
	$(MAKE) --no-print-directory clippy

clippy:  ## clippy on the engine, with its Python bindings and without (its tests)
	cargo clippy --quiet --release --manifest-path native/Cargo.toml -- -D warnings
	cargo clippy --quiet --release --no-default-features --tests --manifest-path native/Cargo.toml -- -D warnings

typecheck: $(STAMP)  ## mypy --strict on the package
	$(BIN)/mypy

format: $(STAMP)  ## rewrite the code in the house style
	$(BIN)/ruff format .
	cargo fmt --manifest-path native/Cargo.toml
	$(BIN)/ruff check --fix .

bench: runtime  ## SPEC §9 benchmark, its own broker (about 17 min; not part of CI; --quick: python -m bench --quick)
	$(BIN)/python -m bench

# A small variant runs in `make test` (tests/integration/test_chaos.py).
chaos: setup  ## SPEC §10 chaos: 200k paced claims, 10 kill -9, a broker restart (minutes; not CI)
	$(BIN)/python -m tests.integration.chaos

clean:  ## drop the virtualenv and the caches of the checks (not the tool cache)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
