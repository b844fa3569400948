"""Silences (maintenance windows): no pages for a tenant, optionally one stack and/or one kind, until
they expire or are lifted. Incidents are still tracked while silenced; a page held back by a silence
goes out when the silence ends and the incident is still firing.
"""

from __future__ import annotations

import secrets

from monitor.store import Database
from monitor.values import Value


class Silence(Value):
    id: str
    tenant: str
    stack: str | None = None
    kind: str | None = None
    starts_at: float
    ends_at: float
    reason: str
    created_by: str
    cancelled_at: float | None = None

    def active(self, now: float) -> bool:
        return self.cancelled_at is None and self.starts_at <= now < self.ends_at

    def matches(self, tenant: str | None, stack: str | None, kind: str) -> bool:
        return (
            tenant == self.tenant
            and (self.stack is None or self.stack == stack)
            and (self.kind is None or self.kind == kind)
        )

    def scope(self) -> str:
        parts = [f"tenant {self.tenant}"]
        if self.stack:
            parts.append(f"stack {self.stack}")
        if self.kind:
            parts.append(f"kind {self.kind}")
        return " / ".join(parts)


class SilenceStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add(
        self,
        *,
        tenant: str,
        stack: str | None,
        kind: str | None,
        now: float,
        duration: float,
        reason: str,
        created_by: str,
    ) -> Silence:
        silence = Silence(
            id=secrets.token_hex(4),
            tenant=tenant,
            stack=stack,
            kind=kind,
            starts_at=now,
            ends_at=now + duration,
            reason=reason,
            created_by=created_by,
        )
        self.db.conn.execute(
            "INSERT INTO silences (id, tenant, stack, kind, starts_at, ends_at, reason, created_by) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                silence.id,
                silence.tenant,
                silence.stack,
                silence.kind,
                silence.starts_at,
                silence.ends_at,
                silence.reason,
                silence.created_by,
            ),
        )
        return silence

    def cancel(self, silence_id: str, now: float) -> bool:
        """Lift a silence; False when no active silence has this id."""
        cursor = self.db.conn.execute(
            "UPDATE silences SET cancelled_at = ? WHERE id = ? AND cancelled_at IS NULL AND ends_at > ?",
            (now, silence_id, now),
        )
        return cursor.rowcount == 1

    def prune(self, before: float) -> int:
        """Forget silences that ended (expired or lifted) before ``before``."""
        cursor = self.db.conn.execute(
            "DELETE FROM silences WHERE ends_at < ? OR (cancelled_at IS NOT NULL AND cancelled_at < ?)",
            (before, before),
        )
        return cursor.rowcount

    def list(self, now: float, *, include_expired: bool = False) -> list[Silence]:
        rows = self.db.conn.execute("SELECT * FROM silences ORDER BY ends_at DESC").fetchall()
        silences = [Silence.model_validate(dict(r)) for r in rows]
        return silences if include_expired else [s for s in silences if s.active(now)]

    def matching(self, tenant: str | None, stack: str | None, kind: str, now: float) -> Silence | None:
        if tenant is None:
            return None
        rows = self.db.conn.execute(
            "SELECT * FROM silences WHERE tenant = ? AND cancelled_at IS NULL "
            "AND starts_at <= ? AND ends_at > ?",
            (tenant, now, now),
        ).fetchall()
        for row in rows:
            silence = Silence.model_validate(dict(row))
            if silence.matches(tenant, stack, kind):
                return silence
        return None
