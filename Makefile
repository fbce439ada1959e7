# civicdesk: `make run` (demo city at http://127.0.0.1:8000) and `make test` do all set-up.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
STAMP := $(VENV)/.installed-stamp

.PHONY: install browser-deps run test test-pg lint typecheck pytest bench messages clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "civicdesk needs Python 3.11 (set PYTHON=/path/to/python3.11)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/pip install --quiet --disable-pip-version-check -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

# Browser tests use Debian's chromium (never a browser download) and axe-core from npm.
AXE := tests/browser/node_modules/axe-core/axe.min.js
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	@test -f $(AXE) || npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error

run: install
	$(BIN)/civicdesk migrate --noinput -v0
	$(BIN)/civicdesk seed --if-empty
	@echo
	@echo "  Resident portal:  http://127.0.0.1:$(PORT)/"
	@echo "  Staff console:    http://127.0.0.1:$(PORT)/staff/   (configuration: /admin/)"
	@echo "  Staff login: admin / prairiefalls-demo  (also calltaker, pw.supervisor, pw.crew, analyst)"
	@echo "  Second step: authenticator key JBSWY3DPEHPK3PXPPRAIRIEFALLS2222 (demo only),"
	@echo "               or the current code from: $(BIN)/civicdesk seed --demo-code"
	@echo
	@$(BIN)/civicdesk worker --interval 2 >var/worker.log 2>&1 & worker=$$!; \
	  trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	  $(BIN)/civicdesk runserver 127.0.0.1:$(PORT)

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: install
	$(BIN)/mypy

pytest: install browser-deps
	$(BIN)/pytest -q

test: lint typecheck pytest

# The same suite on PostgreSQL; DATABASE_URL must name a server (see .ci/run).
test-pg: install browser-deps
	@test -n "$$DATABASE_URL" || (echo "set DATABASE_URL=postgres://user@host:5432/name"; exit 2)
	$(BIN)/pytest -q

bench: install
	$(BIN)/python bench/seed_bench.py

# Re-extract and compile the translation catalogues after changing translatable text.
messages: install
	cd src/civicdesk && ../../$(BIN)/civicdesk makemessages -l es --no-obsolete && ../../$(BIN)/civicdesk compilemessages

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
