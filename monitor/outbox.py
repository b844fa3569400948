"""The persisted outbox: every message is written here before any delivery attempt, and leaves only
once delivered (or once Apprise says no configured service takes its tag).

Rows are ``held`` (waiting to be folded into a burst summary) or ``ready`` (to deliver when
``next_attempt_at`` has come). Delivery is at-least-once: a crash between sending and deleting
re-sends that one message after the restart.
"""

from __future__ import annotations

import json

from monitor.messages import Message, NoticeItem
from monitor.store import Database
from monitor.values import Value


class OutboxRow(Value):
    id: int
    created_at: float
    attempts: int
    next_attempt_at: float
    message: Message


class Outbox:
    def __init__(self, db: Database) -> None:
        self.db = db

    def hold(self, item: NoticeItem, now: float) -> None:
        self.db.conn.execute(
            "INSERT INTO outbox (created_at, state, items) VALUES (?, 'held', ?)",
            (now, json.dumps([item.model_dump(mode="json")])),
        )

    def held(self) -> list[tuple[int, NoticeItem]]:
        rows = self.db.conn.execute(
            "SELECT id, items FROM outbox WHERE state = 'held' ORDER BY id"
        ).fetchall()
        return [(int(r["id"]), NoticeItem.model_validate(json.loads(r["items"])[0])) for r in rows]

    def drop(self, row_ids: list[int]) -> None:
        self.db.conn.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in row_ids])

    def enqueue(self, message: Message, now: float) -> int:
        cursor = self.db.conn.execute(
            "INSERT INTO outbox (created_at, state, items, title, body, tag, notify_type, next_attempt_at) "
            "VALUES (?, 'ready', ?, ?, ?, ?, ?, ?)",
            (
                now,
                json.dumps([i.model_dump(mode="json") for i in message.items]),
                message.title,
                message.body,
                message.tag,
                message.notify_type,
                now,
            ),
        )
        return int(cursor.lastrowid or 0)

    def next_due(self, now: float) -> OutboxRow | None:
        row = self.db.conn.execute(
            "SELECT * FROM outbox WHERE state = 'ready' AND next_attempt_at <= ? ORDER BY id LIMIT 1", (now,)
        ).fetchone()
        if row is None:
            return None
        items = [NoticeItem.model_validate(i) for i in json.loads(row["items"])]
        message = Message(
            title=row["title"], body=row["body"], tag=row["tag"], notify_type=row["notify_type"], items=items
        )
        return OutboxRow(
            id=int(row["id"]),
            created_at=float(row["created_at"]),
            attempts=int(row["attempts"]),
            next_attempt_at=float(row["next_attempt_at"]),
            message=message,
        )

    def next_attempt_at(self) -> float | None:
        row = self.db.conn.execute(
            "SELECT MIN(next_attempt_at) AS t FROM outbox WHERE state = 'ready'"
        ).fetchone()
        return None if row is None or row["t"] is None else float(row["t"])

    def delivered(self, row_id: int) -> None:
        self.db.conn.execute("DELETE FROM outbox WHERE id = ?", (row_id,))

    def failed(self, row_id: int, *, error: str, retry_at: float) -> None:
        self.db.conn.execute(
            "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE id = ?",
            (retry_at, error[:500], row_id),
        )

    def pending(self) -> dict[str, int]:
        rows = self.db.conn.execute("SELECT state, COUNT(*) AS n FROM outbox GROUP BY state")
        counts = {"held": 0, "ready": 0}
        counts.update({str(r["state"]): int(r["n"]) for r in rows})
        return counts
