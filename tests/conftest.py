"""Fixtures every test gets: a clean CFA_ environment, fresh logging and secret registry, asyncio."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import structlog

from shared import redaction

pytest_plugins = ["tests.pocketbase_fixture", "tests.fakes.fixtures"]


@pytest.fixture(autouse=True)
def _clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's CFA_ settings."""
    for key in list(os.environ):
        if key.startswith("CFA_"):
            monkeypatch.delenv(key)


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
