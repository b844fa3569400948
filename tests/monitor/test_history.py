"""Tests for monitor.history: bounded per-container memory."""

from __future__ import annotations

from monitor.history import HistoryBook
from tests.monitor.fakes import T0, snapshot


def test_histories_are_created_on_demand_pruned_and_forgotten() -> None:
    """Old death times fall out; a removed container is forgotten entirely."""
    book = HistoryBook()
    history = book.touch("c1", "web")
    history.deaths.extend([T0 - 700, T0 - 10])
    history.remember(snapshot(running=True, status="running", name="web-renamed"))
    assert book.touch("c1", "ignored") is history and history.name == "web-renamed" and history.running
    book.prune(T0, 600)
    assert list(history.deaths) == [T0 - 10]
    book.forget("c1")
    assert book.get("c1") is None and len(book) == 0
