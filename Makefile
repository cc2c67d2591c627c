# Retreat: `make run` serves the app with demo data; `make test` runs every test.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export FLASK_APP := wsgi

.PHONY: install run test bench lint migrate seed system-deps clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

migrate: install
	$(BIN)/flask db upgrade

seed: migrate
	$(BIN)/flask demo seed

run: seed
	$(BIN)/flask run --host 127.0.0.1 --port 5000

test: install
	$(BIN)/pytest

bench: install
	$(BIN)/python bench/run.py

lint: install
	$(BIN)/ruff check .

# What the PostgreSQL, browser and load tests need from the system (Debian packages).
system-deps:
	$(SUDO) apt-get update -q
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q postgresql chromium chromium-driver wrk

clean:
	rm -rf $(VENV) instance test-artifacts .pytest_cache .hypothesis
