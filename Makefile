# TrayLinx Keys - `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
# `make run PORT=9000 HOST=0.0.0.0 WORKERS=2`: each only when given (on the command line or in
# the environment), so that TRAYLINX_PORT, TRAYLINX_HOST and TRAYLINX_WORKERS apply otherwise.
SERVE_ARGS := $(if $(HOST),--host $(HOST)) $(if $(PORT),--port $(PORT)) $(if $(WORKERS),--workers $(WORKERS))
NPM ?= npm
WEB := web
# The console is rebuilt when any of these is newer than its stamp: its sources (folders too, whose
# time changes when a file is added or removed), its lockfile, the schema.
WEB_SOURCES := $(shell find $(WEB)/src $(WEB)/graphiql $(WEB)/public $(WEB)/scripts 2>/dev/null) \
	$(WEB)/index.html $(WEB)/package.json $(WEB)/package-lock.json $(WEB)/vite.config.ts \
	$(WEB)/tsconfig.json $(WEB)/codegen.ts schema.graphql
WEB_STAMP := $(WEB)/dist/.build-stamp
WEB_DEPS := $(WEB)/node_modules/.package-lock.json
# The suite's worker processes (pytest-xdist), each with its own databases; the browser tests run
# after them, in one process (Playwright's session outlives the other tests' event loops).
TEST_WORKERS ?= 2

.DEFAULT_GOAL := help

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-9s %s\n", $$1, $$2}'

install: $(INSTALLED) $(WEB_STAMP) ## Create .venv, install the service with its dev tools, build the console

$(INSTALLED): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

# The console (web/) is built with Node.js 20.19+ and npm; checked only when something must be built.
NODE_CHECK = @command -v node >/dev/null 2>&1 && command -v $(NPM) >/dev/null 2>&1 || { \
	  echo "error: the admin console (web/) needs Node.js 20.19+ and npm to build, and they are not" >&2; \
	  echo "       installed. Install them (Debian: apt-get install -y nodejs npm), then run make again." >&2; \
	  exit 1; }; \
	node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)' || { \
	  echo "error: the admin console (web/) needs Node.js 20.19 or newer; this is $$(node --version)." >&2; \
	  exit 1; }

# `npm ci` installs exactly what the lockfile says.
$(WEB_DEPS): $(WEB)/package.json $(WEB)/package-lock.json
	$(NODE_CHECK)
	cd $(WEB) && $(NPM) ci --no-audit --no-fund --loglevel=error
	touch $@

$(WEB_STAMP): $(WEB_DEPS) $(WEB_SOURCES)
	$(NODE_CHECK)
	cd $(WEB) && $(NPM) run --silent build
	touch $@

web: $(WEB_STAMP) ## Build the admin console into web/dist (when its sources changed)

web-check: $(WEB_DEPS) ## Console checks: codegen drift, tsc, Vitest
	$(NODE_CHECK)
	cd $(WEB) && $(NPM) run --silent codegen >/dev/null
	@git diff --exit-code -- $(WEB)/src/gql || { \
	  echo "error: web/src/gql is out of date with schema.graphql or the operations; run" >&2; \
	  echo "       'cd web && npm run codegen' and commit the result." >&2; exit 1; }
	@untracked=$$(git ls-files --others --exclude-standard -- $(WEB)/src/gql); \
	if [ -n "$$untracked" ]; then echo "error: untracked generated files: $$untracked" >&2; exit 1; fi
	cd $(WEB) && $(NPM) run --silent typecheck
	cd $(WEB) && $(NPM) test --silent

run: install ## Migrate and serve on http://127.0.0.1:8000 (PORT=, HOST=, WORKERS=; SQLite under ./var/)
	$(PY) -m app migrate
	$(PY) -m app serve $(SERVE_ARGS)

migrate: install ## Apply pending database migrations (DATABASE_URL, default SQLite under ./var/)
	$(PY) -m app migrate

# `make test PYTEST_ARGS="tests/test_projects.py -k owner"` runs just those, in one process.
test: install web-check ## Console checks, then the whole suite on SQLite and PostgreSQL (browser tests too)
	@run() { $(PY) -m pytest "$$@"; status=$$?; \
	  if [ $$status -eq 5 ]; then echo "error: pytest collected no tests" >&2; return 1; fi; \
	  return $$status; }; \
	if [ -n "$(PYTEST_ARGS)" ]; then run $(PYTEST_ARGS); exit $$?; fi; \
	run -n $(TEST_WORKERS) --ignore=tests/browser; suite=$$?; \
	run tests/browser; browser=$$?; \
	exit $$(( suite != 0 ? suite : browser ))

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

.PHONY: help install run migrate test lint format schema bench web web-check
