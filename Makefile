# Leadrouter: `make run` to try it, `make test` to check it.
PY      ?= python3.11
VENV    := .venv
BIN     := $(VENV)/bin
PYTHON  := $(BIN)/python
PORT    ?= 8000
export DEBUG ?= 1
# Days of realistic demo history `make run` loads (0: none); about a second per day the first time, then instant.
HISTORY ?= 30

.PHONY: run test bench lint messages install migrate demo clean

$(BIN)/activate: requirements.txt requirements-dev.txt
	@command -v $(PY) >/dev/null 2>&1 || { echo "$(PY) not found; run with PY=python3"; exit 1; }
	test -x $(PYTHON) || $(PY) -m venv $(VENV)
	$(PYTHON) -m pip install -q --upgrade pip
	$(PYTHON) -m pip install -q -r requirements-dev.txt
	touch $(BIN)/activate

# A newcomer's .env: DEBUG on and a random SECRET_KEY, so `python manage.py ...` works in this folder too.
.env:
	@printf 'DEBUG=1\nSECRET_KEY=%s\n' "$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(50))')" > .env
	@echo "Wrote .env (DEBUG=1 and a random SECRET_KEY; see leadrouter/settings.py for the other variables)."

install: $(BIN)/activate .env

migrate: install
	$(PYTHON) manage.py migrate --noinput

demo: migrate
	$(PYTHON) manage.py load_demo --history $(HISTORY)

## run: venv, install, migrate, load the TechPol demo (with HISTORY days of past leads), start the web server and the django-q2 cluster.
## `make run PORT=8001` serves on another port.
run: demo
	$(PYTHON) manage.py compilemessages -v0 2>/dev/null || true
	@echo ""
	@echo "  Admin:   http://127.0.0.1:$(PORT)/admin/     (manager / demo)"
	@echo "  Reps:    http://127.0.0.1:$(PORT)/my-leads/  (kasia, marek, ola, ... / demo)"
	@echo "  API:     http://127.0.0.1:$(PORT)/api/v1/leads/  (contract: docs/api.md)"
	@echo "  Wall:    http://127.0.0.1:$(PORT)/dashboard/wall/ (manager / demo)"
	@echo "  Intake token for curl (shown once):"
	@$(PYTHON) manage.py create_intake_token "make run $$(date +%s)" | tail -n 1 | sed 's/^/    /'
	@echo ""
	$(PYTHON) manage.py qcluster & QPID=$$!; trap "kill $$QPID 2>/dev/null" EXIT INT TERM; \
	$(PYTHON) manage.py runserver 127.0.0.1:$(PORT)

## test: the whole suite (SQLite by default; DATABASE_URL=postgres://... for PostgreSQL).
## pytest exits 5 when it ran no test: that is a failure here too.
test: install
	$(PYTHON) manage.py makemigrations --check --dry-run >/dev/null || { echo "Missing migrations: run manage.py makemigrations"; exit 1; }
	$(BIN)/lint-imports --no-cache >/dev/null || { $(BIN)/lint-imports --no-cache; echo "An app imports a layer above it (docs/architecture.md)"; exit 1; }
	$(PYTHON) -m pytest -m "not bench" --create-db $(PYTEST_ARGS)

## bench: the benchmarks (tests/test_bench_*.py), each figure next to its goal; run them on PostgreSQL:
## `make bench DATABASE_URL=postgres://...` (the HTTP benchmark is skipped on SQLite). The HTTP benchmark loads
## gunicorn with wrk when it is installed (`apt-get install wrk`), else with its own Python client
## (benchmarks/load.py); BENCH_HTTP_SECONDS (default 15) per run, BENCH_HTTP_CLIENT=wrk|python to choose.
bench: install
	$(PYTHON) -m pytest -m bench --create-db -p no:randomly -s $(PYTEST_ARGS)

lint: install
	$(PYTHON) -m ruff check .

messages: install
	$(PYTHON) manage.py makemessages -l pl --ignore=.venv --ignore=tests
	$(PYTHON) manage.py compilemessages --ignore=.venv

clean:
	rm -rf $(VENV) db.sqlite3 .pytest_cache
