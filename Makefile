# The two commands of the README: `make run` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export HUB_HOST ?= 127.0.0.1
export HUB_PORT ?= 8000

.PHONY: run worker dev test check format bench bench-ledger bench-scheduling bench-analytics loadtest install browser bootstrap stop clean

$(VENV)/.installed: pyproject.toml
	@echo "==> installing the Hub and its dependencies into $(VENV) (the first time: a minute or two)"
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --upgrade pip
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@
	@echo "==> installed"

install: $(VENV)/.installed

# Headless Chromium for the browser tests (tests/browser.py): Debian's package, installed when missing and
# root (as CI runs). Otherwise those tests are skipped, and fail in CI (CI set).
browser:
	@command -v chromium >/dev/null 2>&1 || [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1 || \
	  { echo "installing chromium (Debian) for the browser tests"; apt-get update -qq >/dev/null && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  echo "chromium could not be installed: the browser tests will not run"

# PgBouncer for the pooled test run (tests/pgbouncer.py, tests/test_pgbouncer.py): Debian's package, installed
# when missing and root (as CI runs). Otherwise tests/test_pgbouncer.py is skipped, and fails in CI (CI set).
.PHONY: pgbouncer
pgbouncer:
	@command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ] || [ "$$(id -u)" != 0 ] || \
	  ! command -v apt-get >/dev/null 2>&1 || \
	  { echo "installing pgbouncer (Debian) for the pooled test run"; apt-get update -qq >/dev/null && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer >/dev/null; } || \
	  echo "pgbouncer could not be installed: the PgBouncer tests will not run"

# Migrate the shared schema and every tenant schema; in dev, make sure the demo tenant exists and
# print a token and an example curl.
bootstrap: install
	@if [ -z "$$DATABASE_URL" ]; then echo "==> starting the embedded PostgreSQL in .data/pg (created the first time)"; \
	else echo "==> using the database of DATABASE_URL"; fi
	@echo "==> migrating the shared schema, then every tenant schema"
	$(PY) manage.py migrate_schemas
	@echo "==> the demo tenant (dev only)"
	$(PY) manage.py dev_setup

# Serve as production does: gunicorn with threaded workers (platform/gunicorn.conf.py), and a
# background worker beside it (hub/serve.py: one command; Ctrl-C stops both, either dying stops the other).
run: bootstrap
	@echo "==> serving on http://$(HUB_HOST):$(HUB_PORT) (gunicorn) with a background worker; Ctrl-C stops both"
	$(PY) -m hub.serve

# The background worker alone (manage.py run_worker: every queue, the periodic jobs; SIGTERM stops it
# gracefully). Behind a transaction pooler give it a DATABASE_URL straight to PostgreSQL (it LISTENs).
worker: bootstrap
	@echo "==> background worker (Ctrl-C stops it once its running jobs finish)"
	$(PY) manage.py run_worker

# Autoreloading development server.
dev: bootstrap
	$(PY) manage.py runserver $(HUB_HOST):$(HUB_PORT)

# The whole suite against a real PostgreSQL (embedded unless DATABASE_URL is set), with coverage
# (PYTEST_COV=--no-cov leaves it out: CI's second pass, whose coverage the first already gates).
PYTEST_COV ?= --cov --cov-report=term-missing:skip-covered --cov-fail-under=90
test: install browser pgbouncer
	HUB_ENV=test $(PY) -m pytest -p no:randomly $(PYTEST_COV)

# The isolation tests again (RLS wall and catalog, transaction context, every test with a second
# organization), the runtime connection through PgBouncer in transaction mode (tests/pgbouncer.py).
.PHONY: test-pgbouncer
test-pgbouncer: install pgbouncer
	HUB_ENV=test $(PY) -m tests.pgbouncer -p no:randomly -q tests apps

# Lint, format and type checks (CI runs them).
check: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Throughput and latency of the entities list, with and without the isolation layers.
bench: install
	$(PY) bench/entities_list.py

# Posted ledger transfers per second, over HTTP (1 and 16 clients) and through the service layer.
bench-ledger: install
	$(PY) bench/ledger_post.py
# Latency of the free-slot search (one resource, 90 days, 2,000 bookings), selector and request stack.
bench-scheduling: install
	$(PY) bench/scheduling_availability.py
# Analytics reads on 1,000,000 postings and 100,000 bookings (issue 15): dashboard and 1-year series p50/p95.
bench-analytics: install
	$(PY) bench/analytics.py
# Bulk import of 100,000 entity rows (CSV, issue 16): validate s, commit s, rows/s, peak RSS (BENCH_IMPORT_ROWS).
.PHONY: bench-import
bench-import: install
	$(PY) bench/import_bench.py --rows $${BENCH_IMPORT_ROWS:-100000}
# Provisioning p50/p95 by cloning the template schema vs by migrations (issue 17): BENCH_RUNS (20) each.
.PHONY: bench-provision
bench-provision: install
	$(PY) bench/provision_bench.py --runs $${BENCH_RUNS:-20}
# BENCH_TENANTS (10,000) organizations, filled by clone (resumable; long): provisioning p50/p95, routing
# cold/warm, no-op migrate_schemas, catalog size, backend memory after 1,000 schemas (issue 17).
.PHONY: bench-tenants
bench-tenants: install
	$(PY) bench/tenants_bench.py --tenants $${BENCH_TENANTS:-10000}
# Frontend-like users (locust, headless) against gunicorn as in production: LOADTEST_USERS (1000),
# LOADTEST_TENANTS (5), LOADTEST_DURATION (10m), LOADTEST_SPAWN_RATE, LOADTEST_ENTITIES; see bench/README.md.
loadtest: install
	$(PY) bench/loadtest/run.py

# Stop the embedded PostgreSQL (it keeps running between commands; its data stays in .data/pg and the
# next command starts it again).
stop:
	$(PY) -m hub.embedded_db

# The OpenAPI documents as files, TypeScript types generated from them (openapi-typescript) and a small
# client type-checked against them (tsc --strict), in clients/typescript/ (node 20 and npm needed).
.PHONY: client-ts
client-ts: install
	$(PY) manage.py openapi_dump --api tenant --out clients/typescript/openapi/tenant.json
	$(PY) manage.py openapi_dump --api platform --out clients/typescript/openapi/platform.json
	cd clients/typescript && npm ci --no-audit --no-fund --ignore-scripts && npm run generate && npm run typecheck

clean:
	rm -rf $(VENV) .data .coverage htmlcov .mypy_cache .ruff_cache
