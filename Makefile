# The README's commands. Every target sets up what it needs on first use.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: setup demo test unit integration lint typecheck format bench chaos clean

# The install also builds the Rust hot path (native/) into consumer/_native: redo it when that
# source changes.
$(STAMP): pyproject.toml native/Cargo.toml $(wildcard native/src/*.rs)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test,dev]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

setup: $(STAMP)  ## virtualenv + dependencies + Kafka jars (cached)
	$(BIN)/python -m consumer.localkafka fetch

demo: setup  ## run the product on a local broker it starts itself
	$(BIN)/infusion-validator demo

test: lint typecheck setup  ## everything CI runs: lint, types, unit and integration tests
	$(BIN)/pytest

unit: $(STAMP)
	$(BIN)/pytest tests/unit

integration: setup
	$(BIN)/pytest tests/integration

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	cargo fmt --manifest-path native/Cargo.toml --check
	cargo clippy --quiet --release --manifest-path native/Cargo.toml -- -D warnings

typecheck: $(STAMP)
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	cargo fmt --manifest-path native/Cargo.toml
	$(BIN)/ruff check --fix .

bench: setup  ## SPEC §9 benchmark (minutes; not part of CI)
	$(BIN)/python -m bench

# A small variant runs in `make test` (tests/integration/test_chaos.py).
chaos: setup  ## SPEC §10 chaos: 200k paced claims, 10 kill -9, a broker restart (minutes; not CI)
	$(BIN)/python -m tests.integration.chaos

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
