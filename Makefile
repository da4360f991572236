# PNS Admin. The README's two commands: `make demo` and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

# The interpreter that builds .venv: the first candidate that is Python 3.12 or newer
# (`python3` honours .python-version through pyenv).
PYTHON_CANDIDATES := python3 python3.12 python3.13 python3.14 \
	$(wildcard $(HOME)/.pyenv/versions/3.1[2-9]*/bin/python3)
BASE_PYTHON := $(shell for p in $(PYTHON_CANDIDATES); do \
	$$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1 \
	&& { command -v $$p; break; }; done)

.PHONY: demo test lint messages help clean-venv

help:
	@echo "make demo   start the dashboard with demo data on http://127.0.0.1:8000"
	@echo "make test   lint, check and run the test suite"

demo: $(VENV)/.installed-runtime
	DEBUG=1 $(PY) manage.py migrate --noinput
	DEBUG=1 $(PY) manage.py pns_demo

test: $(VENV)/.installed-dev tests/e2e/node_modules/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/bandit --quiet --recursive groups pns_admin --exclude groups/migrations
	DEBUG=1 $(PY) manage.py check --fail-level WARNING
	DEBUG=1 $(PY) manage.py makemigrations --check --dry-run
	$(PY) -m pytest $(PYTEST_ARGS)

# After changing an interface string: refresh the catalog, translate the new entries in
# locale/zh_Hans/LC_MESSAGES/django.po, run this again, and commit both files (needs gettext).
messages: $(VENV)/.installed-dev
	DEBUG=1 $(PY) manage.py makemessages -l zh_Hans --no-location --no-obsolete \
		-i ".venv/*" -i "tests/*" -i "bench/*" -i "staticfiles/*" -i "artifacts/*"
	DEBUG=1 $(PY) manage.py compilemessages -l zh_Hans --ignore=.venv

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

$(VENV)/.python-ok:
	@if [ -z "$(BASE_PYTHON)" ]; then \
		echo "PNS Admin needs Python 3.12 or newer (Django 6 requires it)." >&2; \
		echo "Found: $$(python3 --version 2>&1 || echo 'no python3')." >&2; \
		echo "Install 3.12 (e.g. 'pyenv install 3.12') and select it with .python-version." >&2; \
		exit 1; \
	fi
	@if [ -x $(PY) ] && ! $(PY) -c 'import sys; sys.exit(sys.version_info < (3, 12))'; then \
		echo "Replacing $(VENV): it was made with an older Python." ; rm -rf $(VENV); \
	fi
	@[ -x $(PY) ] || $(BASE_PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --upgrade pip
	@touch $@

$(VENV)/.installed-runtime: requirements.txt $(VENV)/.python-ok
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt $(VENV)/.python-ok
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

# axe-core for the browser tests' accessibility checks (they are skipped without it).
tests/e2e/node_modules/.installed: tests/e2e/package.json tests/e2e/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix tests/e2e --no-audit --no-fund --silent && touch $@; \
	else \
		echo "npm not found: browser tests will be skipped (they need axe-core from npm)."; \
	fi

clean-venv:
	rm -rf $(VENV)
