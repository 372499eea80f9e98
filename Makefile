# The README's commands. Every target sets up what it needs on first use.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
DEMO_ARGS ?=  # e.g. make demo DEMO_ARGS=--registry
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: setup runtime tools demo test unit integration native-test lint typecheck format bench clean

# The install also builds the Rust hot path (native/) into consumer/_native: redo it when that
# source changes.
$(STAMP): pyproject.toml native/Cargo.toml $(shell find native/src -name '*.rs')
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test,dev,dashboard]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

setup: runtime tools  ## everything the tests need (cached; a cold machine takes ~15 min)

runtime: $(STAMP)  ## virtualenv + dependencies, Kafka jars, the schema registry (cached)
	$(BIN)/python -m consumer.localkafka fetch
	$(BIN)/python -m consumer.localregistry fetch

tools:  ## helm, promtool + prometheus, etcd, kube-apiserver, CRDs (cached; .ci/tools.sh)
	bash .ci/tools.sh

demo: runtime  ## run the product on a local broker it starts itself (--registry: Confluent format)
	$(BIN)/infusion-validator demo $(DEMO_ARGS)

test: lint typecheck native-test setup  ## everything CI runs: lint, types, cargo test, unit and integration tests
	$(BIN)/pytest

native-test:  ## the engine's own tests and the golden cases, without Python
	cargo test --quiet --release --no-default-features --manifest-path native/Cargo.toml

unit: $(STAMP)
	$(BIN)/pytest tests/unit

integration: setup
	$(BIN)/pytest tests/integration

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	cargo fmt --manifest-path native/Cargo.toml --check
	cargo clippy --quiet --release --manifest-path native/Cargo.toml -- -D warnings
	cargo clippy --quiet --release --no-default-features --tests --manifest-path native/Cargo.toml -- -D warnings

typecheck: $(STAMP)
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	cargo fmt --manifest-path native/Cargo.toml
	$(BIN)/ruff check --fix .

bench: runtime  ## SPEC §9 benchmark, its own broker (about 17 min; not part of CI; --quick: python -m bench --quick)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
