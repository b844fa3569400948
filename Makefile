# The two commands a newcomer needs: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck unit bench screenshots clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## run: the main job on the embedded default (local PocketBase; Coolify dry-run unless CFA_COOLIFY_URL is set)
run: $(STAMP)
	bash scripts/run-demo

## test: lint, type-check and the whole test suite (with Docker Compose v2 loading every render)
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	CFA_COMPOSE_BINARY=$$(PYTHON=$(BIN)/python scripts/compose-v2) $(BIN)/pytest

## screenshots: refresh docs/screenshots/ (the README's) from the admin pages' browser tests
screenshots: $(STAMP)
	CFA_SCREENSHOTS_DIR=docs/screenshots CFA_COMPOSE_BINARY=$$(PYTHON=$(BIN)/python scripts/compose-v2) \
		$(BIN)/pytest tests/admin/test_browser.py -q

bench: $(STAMP)
	$(BIN)/python bench/provision.py

clean:
	rm -rf $(VENV) .cfa .pytest_cache .mypy_cache .ruff_cache
