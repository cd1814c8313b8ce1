# The two commands a newcomer needs: `make run` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
PORT ?= 8000
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml requirements.lock | cksum | cut -d' ' -f1)

.PHONY: install run test test-fast chaos lint format bench lock clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade "pip>=24"

# Installs the project with its pinned dependencies (requirements.lock) once per change of those files.
$(STAMP): $(PY) pyproject.toml requirements.lock
	$(PIP) install --quiet -c requirements.lock -e ".[dev]"
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

run: install
	@# Commands in a second terminal (manage.py sync, sandbox_connect) read this to reach this server's port.
	@mkdir -p "$${DATA_DIR:-var}" && echo "$${PUBLIC_BASE_URL:-http://127.0.0.1:$(PORT)}" > "$${DATA_DIR:-var}/public_base_url"
	$(PY) manage.py migrate --noinput
	$(PY) manage.py bootstrap_demo
	@echo ""
	@echo "  Open banking aggregator on http://127.0.0.1:$(PORT)/"
	@echo "    admin              http://127.0.0.1:$(PORT)/$${ADMIN_URL:-admin/}        (user admin, password admin)"
	@echo "    your consents      http://127.0.0.1:$(PORT)/me/consents/"
	@echo "    API docs           http://127.0.0.1:$(PORT)/api/docs/"
	@echo "    sandbox banks      http://127.0.0.1:$(PORT)/sandbox/"
	@echo "    health             http://127.0.0.1:$(PORT)/healthz"
	@echo "  Ctrl-C stops the web server, the Celery worker and Celery beat together."
	@echo ""
	@# honcho gives each process its own PORT (web 8000, worker 8100, …), so the public URL is fixed here once.
	PORT=$(PORT) PUBLIC_BASE_URL=$${PUBLIC_BASE_URL:-http://127.0.0.1:$(PORT)} $(VENV)/bin/honcho -f Procfile start

# Two stages: the unit, API, security and browser tests in two processes (each its own test database; the cache
# per process, as the tests clear it), then the integration tests (real PostgreSQL, Redis cache and broker, a Celery
# worker, live HTTP; they skip with their reason where those services are not configured) in one process, since
# they share one broker.
test: install
	env -u CACHE_URL $(PY) -m pytest -n 2 --durations=15 --ignore=tests/integration $(PYTEST_ARGS)
	$(PY) -m pytest tests/integration $(PYTEST_ARGS)

# The chaos and abuse suite (tests marked `chaos`, left out of `make test`): the embedded SQLite server under a
# long writer, a worker SIGKILLed mid-sync, the cache's and the broker's Redis stopped, PostgreSQL restarted under
# load (throwaway redis-server/initdb processes of its own, never the shared services), every probe of the abuse matrix. Needs PostgreSQL and a Redis broker:
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/aggregator CELERY_BROKER_URL=redis://127.0.0.1:6379/14 make chaos
chaos: install
	REQUIRE_INTEGRATION=1 $(PY) -m pytest -m chaos -p no:cacheprovider $(PYTEST_ARGS) tests

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: install
	$(PY) -m benchmarks $(BENCH_ARGS)

# Re-pin every dependency after editing pyproject.toml.
lock: $(PY)
	$(PIP) install --quiet -e ".[dev]"
	$(PIP) freeze --exclude-editable | grep -v '^-e ' > requirements.lock

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
