# One command to run the server, one to run the tests; each does its own installs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: serve test lint typecheck system-deps node-deps clean bench

$(PY):
	@scripts/ensure-system.sh python
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	@# pip compiles the dependencies, not an editable install: the first start would compile wakeful
	$(PY) -m compileall -q src/wakeful
	@touch $@

$(TEST_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $@ $(STAMP)

serve: $(STAMP)
	$(VENV)/bin/wakeful serve $(ARGS)

system-deps:
	@scripts/ensure-system.sh test

node-deps:
	cd tests/conformance && npm ci --no-audit --no-fund --loglevel=error

test: $(TEST_STAMP) system-deps node-deps
	$(PY) -m ruff check src tests bench
	$(PY) -m mypy
	$(VENV)/bin/lint-imports
	$(PY) -m pytest $(PYTEST_ARGS)
	@# Second stage: the tests marked `postgres`, on a throwaway cluster that tests/support/postgres.py
	@# starts and stops (exit 5: PYTEST_ARGS selected none of them).
	$(PY) -m pytest -m postgres $(PYTEST_ARGS) || [ $$? -eq 5 ]

lint: $(TEST_STAMP)
	$(PY) -m ruff check src tests bench
	$(VENV)/bin/lint-imports

typecheck: $(TEST_STAMP)
	$(PY) -m mypy

clean:
	rm -rf $(VENV) tests/conformance/node_modules
