# hean-pipelines. The two commands a newcomer needs: `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DAYS ?= 30
CHECK_DIR ?= data/check
export DAGSTER_HOME := $(CURDIR)/.dagster_home
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help venv dagster-home prometheus run dev test check lint report evaluate test-truth-layer test-selector \
        test-openai test-idempotency test-observability up docker-logs monitoring-up monitoring-down monitoring-logs

# Root installs directly (CI, containers); anyone else through sudo.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | sort

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP) ## create .venv with the pinned dependencies

dagster-home: ## the persistent DAGSTER_HOME shared by `make run` and `make dev`
	@mkdir -p $(DAGSTER_HOME)
	@ln -sf $(CURDIR)/dagster.yaml $(DAGSTER_HOME)/dagster.yaml

run: venv dagster-home ## materialize the whole pipeline for the last $(DAYS) complete days (one run)
	$(BIN)/hean run --days $(DAYS)

dev: venv dagster-home ## open the Dagster UI on http://127.0.0.1:3000 (schedules and sensors run too)
	$(BIN)/dagster dev -h 127.0.0.1 -p 3000 -w workspace.yaml

prometheus: ## install Prometheus and promtool (Debian package) when missing: the observability tests run them
	@command -v prometheus >/dev/null && command -v promtool >/dev/null || \
		($(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends prometheus)

test: venv dagster-home prometheus ## ruff, mypy and the whole test suite
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/dg check defs
	$(BIN)/pytest -n 2 --dist loadfile

check: venv dagster-home ## the CI gate: every asset check over 4 fixed sandbox weeks on a fresh warehouse
	$(BIN)/hean check --workdir $(CHECK_DIR)

report: venv dagster-home ## the daily Markdown report (reports/daily/<date>.md); DATE=YYYY-MM-DD, default the last run day
	$(BIN)/hean report $(if $(DATE),--date $(DATE))

lint: venv ## ruff and mypy only
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test-idempotency: venv dagster-home ## re-runs and backfills give byte-identical tables
	$(BIN)/pytest -m idempotency

test-truth-layer: venv dagster-home ## accounting kernel, registry, ledger, attribution, invariants and checks
	$(BIN)/pytest -n 2 --dist loadfile hean_pipelines_tests/accounting hean_pipelines_tests/registry \
		hean_pipelines_tests/ledger hean_pipelines_tests/attribution hean_pipelines_tests/defs/test_truth_layer_pipeline.py

test-openai: venv ## the process factory: model, safety filter, OpenAI over loopback, offline generator
	$(BIN)/pytest -n 2 --dist loadfile hean_pipelines_tests/factory

test-selector: venv ## the selector: statistics (published values), rules, scoring, walk-forward
	$(BIN)/pytest -n 2 --dist loadfile hean_pipelines_tests/selection

test-observability: venv dagster-home prometheus ## metrics, exporter, a real Prometheus over every dashboard query, alert rules
	$(BIN)/pytest -n 2 --dist loadfile hean_pipelines_tests/metrics hean_pipelines_tests/monitoring \
		hean_pipelines_tests/defs/observability

evaluate: venv ## walk-forward evaluation of the selector over the last 30 days (after `make run`)
	$(BIN)/hean evaluate --days 30

up: ## the docker-compose stack: Postgres, Dagster code server, webserver (:3001), daemon, exporter, Prometheus (:9091), Grafana (:3000)
	@monitoring/stack.sh up

docker-logs: ## follow the docker-compose stack's logs
	@monitoring/stack.sh docker-logs

monitoring-up: venv prometheus ## exporter + Prometheus + Grafana in Docker; without Docker a local Prometheus and exporter
	@monitoring/stack.sh monitoring-up

monitoring-down: ## stop what monitoring-up started
	@monitoring/stack.sh monitoring-down

monitoring-logs: ## follow the exporter's and Prometheus' logs
	@monitoring/stack.sh monitoring-logs
