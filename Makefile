# campaign-analytics: `make run` serves the visible sample on :8080, `make test` runs everything.
# Every target sets up .venv first (Python >= 3.11 and make are all a fresh machine needs).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DATA_DIR ?= data/visible
PORT   ?= 8080
WORKERS ?= 1
BENCH_SCALES ?= S M
LINTED := python tests $(wildcard bench scripts)
# line coverage of python/campaign_analytics in `make test`: today's, rounded down; only raise it
COVERAGE_FLOOR := 93
export PYTHONDONTWRITEBYTECODE := 1

.DEFAULT_GOAL := help
.PHONY: help setup build run serve test lint golden bench bench-spark docker-smoke compose-smoke contract requirements screenshot clean

help:  ## list the targets (PORT=$(PORT), DATA_DIR=$(DATA_DIR))
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) \
	  | sed -e 's|$$(PORT)|$(PORT)|g' -e 's|$$(DATA_DIR)|$(DATA_DIR)|g' -e 's|$$(WORKERS)|$(WORKERS)|g' -e 's|$$(BENCH_SCALES)|$(BENCH_SCALES)|g' \
	  | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-14s %s\n", $$1, $$2}'

$(BIN)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python >= 3.11 is required"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

$(BIN)/.installed-bench: $(BIN)/.installed
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,bench]'
	touch $@

# `make test` runs the Spark engine's tests too: the spark extra (pyspark, sqlglot); Java is
# installed by scripts/install-java.sh (.ci/run), never by pip
$(BIN)/.installed-spark: $(BIN)/.installed
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,spark]'
	touch $@

setup: $(BIN)/.installed  ## create .venv and install the project with its test tools

build: setup  ## build the rollups of DATA_DIR (default data/visible) into build/<dataset>
	$(BIN)/campaign-analytics build --data-dir $(DATA_DIR)

run: build  ## build, then serve DATA_DIR on http://127.0.0.1:$(PORT) with the fixture benchmarks
	DATA_DIR=$(DATA_DIR) BENCHMARK_FIXTURES_FILE=$(DATA_DIR)/benchmarks.json \
	  $(BIN)/campaign-analytics serve --host 127.0.0.1 --port $(PORT)

serve: build  ## like run, with WORKERS=$(WORKERS) worker processes (LOG_FORMAT=json for JSON logs)
	DATA_DIR=$(DATA_DIR) BENCHMARK_FIXTURES_FILE=$(DATA_DIR)/benchmarks.json \
	  $(BIN)/campaign-analytics serve --host 127.0.0.1 --port $(PORT) --workers $(WORKERS)

test: lint $(BIN)/.installed-spark  ## lint, then every test (golden rollups, the browser and Spark included), with a coverage floor
	$(BIN)/python -m pytest -q --cov --cov-report=term:skip-covered --cov-fail-under=$(COVERAGE_FLOOR)

lint: $(BIN)/.installed-spark  ## ruff lint and format check, mypy --strict over python/, the import layering (lint-imports)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

golden: setup  ## rewrite tests/golden/visible/*.csv from a fresh build (review the diff!)
	$(BIN)/python -m tests.golden --write

bench: $(BIN)/.installed-bench  ## build and serving benchmarks at $(BENCH_SCALES) scale (BENCH_SCALES="S M XL" adds 100M rows), start-up and memory per worker up to 100M rows (BENCH_DATA: generated datasets to reuse); one table
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; } \
	  || echo "wrk could not be installed: bench/load.py generates the load instead"
	$(BIN)/python -m bench.run --scales $(BENCH_SCALES) --ready visible 10M 30M 100M

bench-spark: $(BIN)/.installed-bench $(BIN)/.installed-spark  ## the build on polars, DuckDB and Spark (local mode) at S, M and L: time, peak memory
	$(BIN)/python -m bench.spark --scales S M L

screenshot: setup  ## redraw docs/explorer.png (the explorer's campaign view) in headless Chromium
	PYTHONPATH=python:. $(BIN)/python scripts/screenshot.py docs/explorer.png

requirements:  ## regenerate python/requirements.txt from pyproject.toml and constraints.txt
	python3 scripts/requirements.py

contract:  ## the README's manual commands, verbatim, in a fresh copy and a fresh venv
	bash scripts/contract-commands.sh

docker-smoke:  ## build python/Dockerfile with Docker (or podman), run it and check it; DOCKER_SMOKE_TOOL builds instead
	bash scripts/docker-smoke.sh

compose-smoke: setup  ## run compose.yaml (API + benchmark stub) with Docker Compose or podman-compose, check the HTTP mode
	bash scripts/compose-smoke.sh

clean:  ## remove .venv, build outputs and caches
	rm -rf $(VENV) build/* .pytest_cache .ruff_cache .hypothesis
