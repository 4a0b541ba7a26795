# The two commands a fresh machine needs: `make serve` and `make test`.
# Every target creates .venv on its own when it is missing or broken (python3 -m venv .venv,
# with the Python named by PYTHON).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: serve test typecheck bench-ingest bench-reconcile bench-commands bench-worktrees bench-cleanup bench-scale clean

# A .venv that cannot run (made by a Python since removed, or half made) is
# rebuilt rather than trusted: the venv target then counts as always stale.
ifneq ($(shell $(BIN)/python -c "" 2>/dev/null && echo ok),ok)
.PHONY: $(BIN)/python
endif

# A failed step removes what it half made, so the next run starts it again.
.DELETE_ON_ERROR:

# A Python whose venv module cannot install pip (Debian without python3-venv) still makes one:
# the venv is made without pip, and the system's pip installs pip into it.
$(BIN)/python:
	@$(PYTHON) -c "import sys; sys.exit(sys.version_info < (3, 11))" 2>/dev/null || \
		{ echo "forgebot needs Python 3.11 or newer; none found as '$(PYTHON)' (set PYTHON=/path/to/python3)" >&2; exit 1; }
	@echo "making $(VENV) with $$($(PYTHON) -c 'import sys; print(sys.executable, sys.version.split()[0])')"
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV) || \
		{ rm -rf $(VENV) && $(PYTHON) -m venv --without-pip $(VENV) && $(PYTHON) -m pip --python $(BIN)/python install --quiet pip; } || \
		{ rm -rf $(VENV); echo "could not make $(VENV) with '$(PYTHON) -m venv', nor install pip into one (on Debian or Ubuntu: apt install python3-venv)" >&2; exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip || echo "pip upgrade failed; going on with the pip that venv bundled" >&2

# The stamps depend on the interpreter itself, so a rebuilt .venv is reinstalled.
$(STAMP): pyproject.toml $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(TEST_STAMP): pyproject.toml $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
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

bench-worktrees: $(TEST_STAMP)
	$(BIN)/python -m bench.worktrees

bench-cleanup: $(TEST_STAMP)
	$(BIN)/python -m bench.cleanup

bench-scale: $(TEST_STAMP)
	$(BIN)/python -m bench.scale

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .hypothesis
