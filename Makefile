# One command each: `make demo` (set up + run on the sandbox), `make test` (set up + whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# `make demo ENGINE=spark` installs the spark extra and runs dbt on a local Spark (as does ENGAGEMENT_ENGINE=spark)
ENGINE ?=
SPARK_STAMP := $(VENV)/.installed-spark

.PHONY: setup demo test bench dev lint clean

# the spark extra is in the test install too: tests/spark/ runs the same models on Spark
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,bench,spark]'
	touch $(STAMP) $(SPARK_STAMP)

$(SPARK_STAMP): pyproject.toml | $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[spark]'
	touch $(SPARK_STAMP)

setup: $(STAMP)
	$(BIN)/python -c "from dagster_project.lib.dbt_manifest import ensure_manifest; ensure_manifest()"

demo: setup $(if $(filter spark,$(or $(ENGINE),$(ENGAGEMENT_ENGINE))),$(SPARK_STAMP))
	$(BIN)/engagement demo $(if $(ENGINE),--engine $(ENGINE))

test: setup
	$(BIN)/python -m pytest -q

# scale runs (tables for benchmarks/README.md); BENCH="e2e --records 100000 1000000" picks one
BENCH ?= all
bench: setup
	$(BIN)/python -m benchmarks $(BENCH)

dev: setup
	$(BIN)/engagement dev

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf warehouse .dagster_home dbt_models/target dbt_models/logs
