"""Tests for monitor.directory: the in-process stack directory and catalog budgets."""

from __future__ import annotations

from pathlib import Path

import pytest
from structlog.testing import capture_logs

from monitor.directory import StackRecord, StaticDirectory, catalog_budgets


@pytest.mark.anyio
async def test_static_directory_answers_from_memory_and_can_be_replaced() -> None:
    """Lookups by tenant/stack and by service uuid; replace() swaps the whole set."""
    directory = StaticDirectory([StackRecord(tenant="acme", stack="bot", service_uuid="u1")], lambda t, p: 42)
    await directory.refresh()
    assert directory.get("acme", "bot") is not None
    assert directory.by_service_uuid("u1") == directory.get("acme", "bot")
    assert directory.volume_budget("any", "plan") == 42
    directory.replace([])
    assert directory.get("acme", "bot") is None and directory.by_service_uuid("u1") is None


def test_unknown_catalog_yields_no_budget_and_says_so(tmp_path: Path) -> None:
    """A catalog that cannot answer means 'no budget' (the volume check skips), logged once."""
    lookup = catalog_budgets(tmp_path / "missing")
    with capture_logs() as logs:
        assert lookup("telegram-bot", "starter") is None
        assert lookup("telegram-bot", "starter") is None
    assert [e["event"] for e in logs] == ["monitor.volume_budget_unknown"]
