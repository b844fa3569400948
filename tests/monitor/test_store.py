"""Tests for monitor.store: the SQLite file, transactions and the key-value cursor."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.store import Database, db_path


def test_state_lives_under_the_data_dir_and_survives_reopening(tmp_path: Path) -> None:
    """``CFA_DATA_DIR/monitor/monitor.db``, created on first use; values persist."""
    path = db_path(tmp_path)
    assert path == tmp_path / "monitor" / "monitor.db"
    db = Database(path)
    db.put("events.cursor", "[1, 2, 3]")
    db.put("events.cursor", "[4, 5, 6]")
    db.close()
    db = Database(path)
    assert db.get("events.cursor") == "[4, 5, 6]" and db.get("missing") is None
    db.close()


def test_a_failed_transaction_leaves_nothing_behind(tmp_path: Path) -> None:
    """Writes inside a transaction that raises are rolled back, nested blocks included."""
    db = Database(tmp_path / "m.db")
    with pytest.raises(RuntimeError), db.transaction():
        db.put("a", "1")
        with db.transaction():
            db.put("b", "2")
        raise RuntimeError("boom")
    assert (db.get("a"), db.get("b")) == (None, None)
    with db.transaction():
        db.put("a", "1")
    assert db.get("a") == "1"
    db.close()
