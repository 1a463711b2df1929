# TrayLinx Keys - `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
# `make run PORT=9000 HOST=0.0.0.0 WORKERS=2`: each only when given (on the command line or in
# the environment), so that TRAYLINX_PORT, TRAYLINX_HOST and TRAYLINX_WORKERS apply otherwise.
SERVE_ARGS := $(if $(HOST),--host $(HOST)) $(if $(PORT),--port $(PORT)) $(if $(WORKERS),--workers $(WORKERS))

.DEFAULT_GOAL := help

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-9s %s\n", $$1, $$2}'

install: $(INSTALLED) ## Create .venv and install the service with its dev tools

$(INSTALLED): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

run: install ## Migrate and serve on http://127.0.0.1:8000 (PORT=, HOST=, WORKERS=; SQLite under ./var/)
	$(PY) -m app migrate
	$(PY) -m app serve $(SERVE_ARGS)

migrate: install ## Apply pending database migrations (DATABASE_URL, default SQLite under ./var/)
	$(PY) -m app migrate

test: install ## Run the whole suite on SQLite and PostgreSQL
	@$(PY) -m pytest $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "error: pytest collected no tests" >&2; exit 1; fi; \
	exit $$status

lint: install ## ruff (lint + format check) and mypy --strict on app/
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: install ## Apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

schema: install ## Rewrite schema.graphql from the code
	$(PY) -m app export-schema

bench: install ## Run the benchmarks: table on stdout, JSON under bench/results/
	$(PY) -m bench $(BENCH_ARGS)

.PHONY: help install run migrate test lint format schema bench
