"""Fixtures every test gets: a clean CFA_ environment, fresh logging and secret registry, asyncio;
and the Compose v2 loader (skipped without one, required when CI is set)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from shared import redaction
from shared.compose_loader import ComposeLoader, find_compose

pytest_plugins = ["tests.pocketbase_fixture", "tests.fakes.fixtures", "tests.docker_fixture"]

# Where the machine's Compose v2 is (`make test` sets it from scripts/compose-v2): a tool, not a setting
# of the developer's, so it survives the clean environment below.
_COMPOSE_BINARY = os.environ.get("CFA_COMPOSE_BINARY")


def compose_loader_or_none() -> ComposeLoader | None:
    return find_compose(Path(_COMPOSE_BINARY) if _COMPOSE_BINARY else None)


@pytest.fixture(autouse=True)
def _clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's CFA_ settings (the Compose binary's location is kept)."""
    for key in list(os.environ):
        if key.startswith("CFA_") and key != "CFA_COMPOSE_BINARY":
            monkeypatch.delenv(key)


def hide_compose(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Make this process find no Compose at all (configured, on PATH, in cli-plugins or the cache)."""
    import shared.compose_loader as module

    monkeypatch.delenv("CFA_COMPOSE_BINARY", raising=False)
    monkeypatch.delenv("DOCKER_CONFIG", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(module, "_PLUGIN_DIRS", ())


@pytest.fixture(scope="session")
def compose_loader() -> ComposeLoader:
    """Docker Compose v2 (what a Coolify host runs), for `docker compose config -q` of every render."""
    loader = compose_loader_or_none()
    if loader is None:
        reason = "no Docker Compose v2 (run scripts/compose-v2 and set CFA_COMPOSE_BINARY)"
        if os.environ.get("CI"):
            pytest.fail(f"Compose v2 is required when CI is set: {reason}")
        pytest.skip(reason)
    return loader


@pytest.fixture(autouse=True)
def _fresh_logging_and_secrets() -> Iterator[None]:
    """Each test starts with structlog defaults and an empty secret registry."""
    structlog.reset_defaults()
    redaction.forget_all()
    yield
    structlog.reset_defaults()
    redaction.forget_all()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
