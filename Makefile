# One command each: `make demo` (set up the runtime + run on the sandbox), `make test` (set up + whole suite).
# Each target installs only the extras it needs; a stamp per set of extras, so switching costs one install.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_RUNTIME := $(VENV)/.installed-runtime
STAMP_DEV := $(VENV)/.installed-dev
STAMP_BENCH := $(VENV)/.installed-bench
STAMP_SPARK := $(VENV)/.installed-spark
# `make demo ENGINE=spark` (or ENGAGEMENT_ENGINE=spark) installs the spark extra and runs dbt on a local Spark
ENGINE ?=

.PHONY: setup setup-dev setup-bench setup-spark demo test bench dev docs docs-serve lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# the runtime only: no pytest, dlt or pyinstrument
$(STAMP_RUNTIME): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

# tests and lint: the runtime plus the dev extra
$(STAMP_DEV): pyproject.toml $(STAMP_RUNTIME)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# benchmarks: the runtime plus dlt and pyinstrument
$(STAMP_BENCH): pyproject.toml $(STAMP_RUNTIME)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	touch $@

# ENGAGEMENT_ENGINE=spark: the runtime plus dbt-spark and pyspark (Java 17 must be on the machine)
$(STAMP_SPARK): pyproject.toml $(STAMP_RUNTIME)
	$(BIN)/python -m pip install --quiet -e '.[spark]'
	touch $@

setup: $(STAMP_RUNTIME)
	$(BIN)/python -c "from dagster_project.lib.dbt_manifest import ensure_manifest; ensure_manifest()"

setup-dev: setup $(STAMP_DEV)

setup-bench: setup $(STAMP_BENCH)

setup-spark: setup $(STAMP_SPARK)

demo: setup $(if $(filter spark,$(or $(ENGINE),$(ENGAGEMENT_ENGINE))),$(STAMP_SPARK))
	$(BIN)/engagement demo $(if $(ENGINE),--engine $(ENGINE))

test: setup-dev
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --durations=15

# scale runs (tables for benchmarks/README.md); BENCH="e2e --records 100000 1000000" picks one
BENCH ?= all
bench: setup-bench
	$(BIN)/python -m benchmarks $(BENCH)

# the Dagster UI at http://127.0.0.1:3000, on the instance `make demo` records into (.dagster_home/)
dev: setup
	$(BIN)/engagement dev

# dbt's documentation site (models, columns, tests, lineage) from the project alone: the `docs` target opens no
# database file (a running refresh holds the warehouse) and writes to its own folder; `make docs-serve` serves it
docs: setup
	cd dbt_models && DBT_TARGET=docs ../$(BIN)/dbt docs generate --profiles-dir . --project-dir . --target-path target/docs --empty-catalog --quiet

docs-serve: docs
	cd dbt_models && DBT_TARGET=docs ../$(BIN)/dbt docs serve --profiles-dir . --project-dir . --target-path target/docs --port 8081

lint: $(STAMP_DEV)
	$(BIN)/ruff check .

clean:
	rm -rf warehouse .dagster_home dbt_models/target dbt_models/logs
