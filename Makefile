# Retreat: `make run` serves the app with demo data; `make test` runs every test.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
# localstripe (a stand-in for Stripe's API, for the payment tests) pins an old aiohttp: it gets a venv of its own.
LOCALSTRIPE_VENV ?= .localstripe-venv
# axe-core (the accessibility checker the browser tests inject into pages), pinned by its package-lock.json.
AXE_DIR := tests/e2e/axe
# The tests run on both cores (pytest-xdist); each worker starts its own PostgreSQL server and localstripe.
TEST_WORKERS ?= 2
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export FLASK_APP := wsgi

.PHONY: install localstripe axe run cluster test bench lint migrate seed system-deps clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

$(LOCALSTRIPE_VENV)/.installed:
	$(PYTHON) -m venv $(LOCALSTRIPE_VENV)
	$(LOCALSTRIPE_VENV)/bin/pip install --quiet --upgrade pip
	$(LOCALSTRIPE_VENV)/bin/pip install --quiet 'localstripe>=1.15.10,<2'
	touch $@

# The tests start it themselves (tests/support/localstripe.py); this only installs it.
localstripe: $(LOCALSTRIPE_VENV)/.installed

$(AXE_DIR)/node_modules/.installed: $(AXE_DIR)/package.json $(AXE_DIR)/package-lock.json
	npm ci --prefix $(AXE_DIR) --no-audit --no-fund --loglevel=error
	touch $@

# tests/e2e/test_accessibility.py injects $(AXE_DIR)/node_modules/axe-core/axe.min.js; this only installs it.
axe: $(AXE_DIR)/node_modules/.installed

migrate: install
	$(BIN)/flask db upgrade

seed: migrate
	$(BIN)/flask demo seed

run: seed
	$(BIN)/flask run --host 127.0.0.1 --port 5000

# deploy/README.md's topology on this machine: PostgreSQL, Redis, two app hosts (gunicorn) and nginx on
# 127.0.0.1:8080, ordinary processes in a scratch folder (no system services); Ctrl-C stops them all.
cluster: install
	$(BIN)/python deploy/cluster.py

# --dist loadgroup: tests marked xdist_group (the topology test's one cluster) stay on one worker.
test: install localstripe axe
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadgroup

bench: install
	$(BIN)/python bench/run.py

lint: install
	$(BIN)/ruff check .

# What the PostgreSQL, browser, load, accessibility and topology tests need from the system (Debian packages: the
# topology test and `make cluster` run nginx and redis-server as ordinary processes), and what
# WeasyPrint renders receipts and superbills with (Pango, fonts; pdftoppm to look at a page). npm (to
# install axe-core) comes with Debian's nodejs and npm unless a Node.js that brings its own npm is there already
# (NodeSource's nodejs conflicts with Debian's npm).
system-deps:
	$(SUDO) apt-get update -q
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q postgresql chromium chromium-driver wrk sqlite3 nginx redis-server \
		libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core poppler-utils
	command -v npm >/dev/null || DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q nodejs npm

clean:
	rm -rf $(VENV) $(LOCALSTRIPE_VENV) $(AXE_DIR)/node_modules instance test-artifacts .pytest_cache .hypothesis
