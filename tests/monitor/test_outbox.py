"""Tests for monitor.outbox: persisted messages, retries without blocking others."""

from __future__ import annotations

from pathlib import Path

from monitor.messages import render
from monitor.outbox import Outbox
from monitor.store import Database
from tests.monitor.fakes import T0, item


def message(title_id: str = "a") -> object:
    return render([item(id=title_id)], host="h", window=10, runbook_base="https://x/")


def test_messages_survive_a_restart_and_a_failure_does_not_block_the_next(tmp_path: Path) -> None:
    """A failed message waits for its retry time while a later one is due; both persist."""
    db = Database(tmp_path / "m.db")
    outbox = Outbox(db)
    first = outbox.enqueue(message("a"), T0)  # type: ignore[arg-type]
    outbox.enqueue(message("b"), T0 + 1)  # type: ignore[arg-type]
    outbox.failed(first, error="connection refused", retry_at=T0 + 60)
    db.close()
    db = Database(tmp_path / "m.db")
    outbox = Outbox(db)
    due = outbox.next_due(T0 + 2)
    assert due is not None and due.message.items[0].incident_id == "b"
    outbox.delivered(due.id)
    assert outbox.next_due(T0 + 2) is None
    assert outbox.next_attempt_at() == T0 + 60
    retry = outbox.next_due(T0 + 60)
    assert retry is not None and retry.attempts == 1 and retry.message.items[0].incident_id == "a"
    assert outbox.pending() == {"held": 0, "ready": 1}
    db.close()
