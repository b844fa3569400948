"""The monitor's local state: one SQLite file under ``CFA_DATA_DIR`` (``monitor/monitor.db``).

It holds incidents, silences, the notification outbox and the event cursor, so a restarted monitor
neither re-pages nor forgets. WAL mode lets the CLI (``silence``, ``incidents``) read and write while
the sidecar runs. Each table's queries live with its module; this one owns the schema.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS incidents (
    id TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    kind TEXT NOT NULL,
    severity TEXT NOT NULL,
    state TEXT NOT NULL,
    host TEXT NOT NULL,
    tenant TEXT,
    stack TEXT,
    template TEXT,
    plan TEXT,
    subject TEXT NOT NULL,
    container_id TEXT,
    detail TEXT NOT NULL,
    evidence TEXT NOT NULL,
    marker TEXT,
    occurrences INTEGER NOT NULL,
    opened_at REAL NOT NULL,
    last_seen_at REAL NOT NULL,
    resolved_at REAL,
    resolve_pending_since REAL,
    resolve_reason TEXT,
    notified_at REAL,
    notifications INTEGER NOT NULL DEFAULT 0,
    suppressed TEXT,
    revision INTEGER NOT NULL DEFAULT 0,
    mirrored_revision INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS idx_incidents_fingerprint ON incidents (fingerprint, opened_at);
CREATE INDEX IF NOT EXISTS idx_incidents_state ON incidents (state);
CREATE INDEX IF NOT EXISTS idx_incidents_container ON incidents (container_id);
CREATE TABLE IF NOT EXISTS silences (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    stack TEXT,
    kind TEXT,
    starts_at REAL NOT NULL,
    ends_at REAL NOT NULL,
    reason TEXT NOT NULL,
    created_by TEXT NOT NULL,
    cancelled_at REAL
);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at REAL NOT NULL,
    state TEXT NOT NULL,
    items TEXT NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    body TEXT NOT NULL DEFAULT '',
    tag TEXT NOT NULL DEFAULT '',
    notify_type TEXT NOT NULL DEFAULT '',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS idx_outbox_due ON outbox (state, next_attempt_at);
CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


def db_path(data_dir: Path) -> Path:
    return data_dir / "monitor" / "monitor.db"


class Database:
    """One connection; use it from one thread. ``transaction()`` groups writes atomically."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.conn = sqlite3.connect(path, isolation_level=None, timeout=10.0)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA busy_timeout=10000")
        self.conn.executescript(SCHEMA)
        self._depth = 0

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Nested calls join the outer transaction."""
        if self._depth:
            self._depth += 1
            try:
                yield self.conn
            finally:
                self._depth -= 1
            return
        self.conn.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")
        finally:
            self._depth = 0

    def get(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row["value"])

    def put(self, key: str, value: str) -> None:
        self.conn.execute(
            "INSERT INTO kv (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def close(self) -> None:
        self.conn.close()
