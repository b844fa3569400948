# The two commands a newcomer needs: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck unit bench bench-backup clean

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

bench: $(STAMP)
	$(BIN)/python bench/provision.py

## bench-backup: a 1 GiB volume backed up, 10 % changed, backed up again (needs root, Docker, restic)
bench-backup: $(STAMP)
	$(BIN)/python bench/backup.py

clean:
	rm -rf $(VENV) .cfa .pytest_cache .mypy_cache .ruff_cache
