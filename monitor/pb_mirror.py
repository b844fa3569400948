"""Mirror incidents to the PocketBase ``incidents`` collection (see :mod:`monitor.pb_schema`).

SQLite stays the source of truth; the mirror is eventually consistent. Each incident is upserted by
``incident_id``; a failure leaves it pending and the next round retries.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from monitor.incidents import Incident
from monitor.messages import runbook_url
from shared.pocketbase.filters import pb_filter

if TYPE_CHECKING:
    from shared.pocketbase.client import PocketBase

COLLECTION = "incidents"


def _date(ts: float | None) -> str:
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"


def to_record(incident: Incident, runbook_base: str) -> dict[str, Any]:
    return {
        "incident_id": incident.id,
        "fingerprint": incident.fingerprint,
        "host": incident.host,
        "kind": incident.kind.value,
        "severity": incident.severity.value,
        "state": incident.state,
        "tenant": incident.tenant or "",
        "stack": incident.stack or "",
        "template": incident.template or "",
        "plan": incident.plan or "",
        "subject": incident.subject,
        "container_id": incident.container_id or "",
        "detail": incident.detail[:4000],
        "evidence": incident.evidence,
        "occurrences": incident.occurrences,
        "notifications": incident.notifications,
        "opened_at": _date(incident.opened_at),
        "last_seen_at": _date(incident.last_seen_at),
        "resolved_at": _date(incident.resolved_at),
        "resolve_reason": (incident.resolve_reason or "")[:500],
        "suppressed": (incident.suppressed or "")[:500],
        "runbook": runbook_url(runbook_base, incident.kind),
    }


class IncidentMirror:
    def __init__(self, pb: PocketBase, runbook_base: str) -> None:
        self._pb = pb
        self._runbook_base = runbook_base
        self._record_ids: dict[str, str] = {}

    async def push(self, incidents: list[Incident]) -> list[Incident]:
        """Upsert each incident; returns those written (stops at the first failure, which propagates
        only if nothing was written)."""
        done: list[Incident] = []
        for incident in incidents:
            data = to_record(incident, self._runbook_base)
            try:
                record_id = self._record_ids.get(incident.id)
                if record_id is None:
                    existing = await self._pb.first(
                        COLLECTION, pb_filter("incident_id = {:id}", id=incident.id)
                    )
                    record_id = None if existing is None else str(existing["id"])
                if record_id is None:
                    created = await self._pb.create_record(COLLECTION, data)
                    record_id = str(created["id"])
                else:
                    await self._pb.update_record(COLLECTION, record_id, data)
            except Exception:
                if not done:
                    raise
                break
            self._record_ids[incident.id] = record_id
            done.append(incident)
        return done

    async def aclose(self) -> None:
        await self._pb.aclose()
