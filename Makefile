# streamapp — the two commands a newcomer needs: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STACK := $(PYTHON) infra/local/stack
PY_PATHS := $(wildcard streamapp tests bench topologies infra)

.PHONY: help run test venv up down status lint format unit integration bench chaos clean-stack dbt-venv promtool check-alerts

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(BIN)/.installed: pyproject.toml setup.py streamapp/decode/_avrorows.c streamapp/encode/_avrowrite.c
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "streamapp needs Python >= 3.11")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing streamapp and its dev tools into $(VENV) (log: $(VENV)/install.log)"
	@{ $(BIN)/pip install -q --upgrade pip && $(BIN)/pip install -q -e '.[dev,state,opensearch,iceberg]'; } \
		> $(VENV)/install.log 2>&1 || { tail -n 30 $(VENV)/install.log; exit 1; }
	@touch $@

venv: $(BIN)/.installed  ## create the virtualenv and install streamapp with dev tools

# dbt lives in a virtualenv of its own: its pins (jinja2, protobuf, networkx...) must not decide
# the worker's dependency versions. tests/integration/dbt finds it through DBT_VENV.
DBT_VENV ?= .stack/dbt-venv
export DBT_VENV
DBT_PINS := 'dbt-core>=1.10,<1.11' 'dbt-postgres>=1.9,<1.10'

$(DBT_VENV)/.installed:
	@test -x $(DBT_VENV)/bin/python || $(PYTHON) -m venv $(DBT_VENV)
	@echo "installing dbt-core and dbt-postgres into $(DBT_VENV) (log: $(DBT_VENV)/install.log)"
	@{ $(DBT_VENV)/bin/pip install -q --upgrade pip && $(DBT_VENV)/bin/pip install -q $(DBT_PINS); } \
		> $(DBT_VENV)/install.log 2>&1 || { tail -n 30 $(DBT_VENV)/install.log; exit 1; }
	@touch $@

dbt-venv: $(DBT_VENV)/.installed  ## dbt-core + dbt-postgres in their own virtualenv (for the dbt tests)

# Prometheus's promtool validates infra/prometheus/alerts.yml; built once from its Go module into
# the cache outside the repo (infra/prometheus/promtool.py), like the stack's Kafka downloads.
PROMTOOL := $(PYTHON) infra/prometheus/promtool.py

promtool:  ## build promtool once into ~/.cache/streamapp (needs Go; 7-10 min the first time)
	@$(PROMTOOL) --install > /dev/null

check-alerts: promtool  ## promtool check rules + promtool test rules on infra/prometheus/alerts*.yml
	@$(PROMTOOL) check rules infra/prometheus/alerts.yml
	@$(PROMTOOL) test rules infra/prometheus/alerts_test.yml

up:  ## start the local stack (Kafka, registry, PostgreSQL, Redis, MariaDB, Kafka Connect + Debezium, OpenSearch, Iceberg REST catalog, S3 store, auth proxy); a no-op when running
	@$(STACK) up

down:  ## stop every process of the local stack
	@$(STACK) down

status:  ## print each service, its address and health
	@$(STACK) status

run: venv up  ## set up everything, then run the main job on the local stack
	@$(BIN)/streamapp run

lint: venv  ## ruff (lint + format check) and mypy --strict
	@$(BIN)/ruff check $(PY_PATHS)
	@$(BIN)/ruff format --check $(PY_PATHS)
	@$(BIN)/mypy --strict streamapp

format: venv  ## apply ruff's fixes and formatting
	@$(BIN)/ruff check --fix $(PY_PATHS)
	@$(BIN)/ruff format $(PY_PATHS)

unit: venv promtool  ## unit tests only (no services)
	@$(BIN)/pytest -q tests/unit

integration: venv up dbt-venv  ## integration tests on the real local stack
	@$(BIN)/pytest -q tests/integration

test: venv promtool up dbt-venv lint  ## set up everything and run the whole suite (lint, unit, integration)
	@$(BIN)/pytest -q tests

bench: venv up  ## benchmarks that print figures: core chain, consume path, end to end
	@$(BIN)/python bench/transform_bench.py 50000
	@$(BIN)/python bench/state_bench.py 200000
	@$(BIN)/python bench/consume_bench.py 200000 6
	@$(BIN)/python bench/pipeline_bench.py 100000 2000

chaos: venv up  ## fault injection on the real stack (~10 min; restarts Kafka, registry, Connect): prints what was lost
	@$(BIN)/python tests/chaos/run.py

clean-stack: down  ## stop the stack and delete its data and logs (keeps the download cache)
	@rm -rf .stack
