# One command each: `make demo` (set up + run on the sandbox), `make test` (set up + whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test bench dev docs docs-serve lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

setup: $(STAMP)
	$(BIN)/python -c "from dagster_project.lib.dbt_manifest import ensure_manifest; ensure_manifest()"

demo: setup
	$(BIN)/engagement demo

test: setup
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --durations=15

# scale runs (tables for benchmarks/README.md); BENCH="e2e --records 100000 1000000" picks one
BENCH ?= all
bench: setup
	$(BIN)/python -m benchmarks $(BENCH)

dev: setup
	$(BIN)/engagement dev

# dbt's documentation site (models, columns, tests, lineage) from the project alone: the `docs` target opens no
# database file (a running refresh holds the warehouse) and writes to its own folder; `make docs-serve` serves it
docs: setup
	cd dbt_models && DBT_TARGET=docs ../$(BIN)/dbt docs generate --profiles-dir . --project-dir . --target-path target/docs --empty-catalog --quiet

docs-serve: docs
	cd dbt_models && DBT_TARGET=docs ../$(BIN)/dbt docs serve --profiles-dir . --project-dir . --target-path target/docs --port 8081

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf warehouse .dagster_home dbt_models/target dbt_models/logs
