# The two commands a newcomer needs: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck unit bench bench-backup screenshots clean test-stacks test-stacks-full image-telegram-bot

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

## test-stacks: every template and compose.yml run for real on a private Docker engine, against fakes,
## in loopback-only namespaces (root; images built offline; see tests/stacks and docs/benchmarks.md)
test-stacks: $(STAMP)
	bash scripts/stacks/run

## test-stacks-full: the same for Open WebUI (a multi-GB image; run by hand, not on every CI run)
test-stacks-full: $(STAMP)
	bash scripts/stacks/run --full

## image-telegram-bot: the bot's release image from templates/telegram-bot/app on a pinned base, with its
## digest (IMAGE=…, BASE=local|name@sha256:…, PUSH=1; see templates/telegram-bot/app/README.md)
image-telegram-bot: $(STAMP)
	bash scripts/stacks/image-telegram-bot

bench: $(STAMP)
	$(BIN)/python bench/provision.py

## bench-backup: a 1 GiB volume backed up, 10 % changed, backed up again (needs root, Docker, restic)
bench-backup: $(STAMP)
	$(BIN)/python bench/backup.py

clean:
	rm -rf $(VENV) .cfa .pytest_cache .mypy_cache .ruff_cache
