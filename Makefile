# The two commands a fresh machine needs: `make serve` and `make test`.
# Every target creates .venv on its own when it is missing.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: serve test typecheck bench-ingest bench-reconcile bench-commands clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(STAMP)

serve: $(STAMP)
	$(BIN)/forgebot serve --host 127.0.0.1 --port 8080 --database var/forgebot.db

test: $(TEST_STAMP)
	$(BIN)/ruff check --select F bot handlers config tests bench scripts
	$(BIN)/mypy
	$(BIN)/python -m pytest --cov --cov-report=term:skip-covered

typecheck: $(TEST_STAMP)
	$(BIN)/mypy

bench-ingest: $(TEST_STAMP)
	$(BIN)/python -m bench.ingest

bench-reconcile: $(TEST_STAMP)
	$(BIN)/python -m bench.reconcile

bench-commands: $(TEST_STAMP)
	$(BIN)/python -m bench.commands

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .hypothesis
