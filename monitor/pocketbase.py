"""The monitor's PocketBase side: stack records in, incidents out. SQLite stays the source of truth.

:class:`PocketBaseDirectory` reads the ``tenants`` and ``stacks`` records. ``refresh`` reads both
collections (a few hundred records) and swaps the in-memory maps, so lookups on the event path never
wait on the network. A stack's *observed* ``status`` is what alerting honours (see
:mod:`monitor.policy`): a tenant's status, or a stack's desired state, alone suppresses nothing.

:class:`IncidentMirror` upserts incidents into the ``incidents`` collection (declared with the others in
:mod:`shared.pocketbase.schema`, created by ``cfa pb migrate``) by ``incident_id``. The mirror is
eventually consistent: a failure leaves an incident pending and the next round retries it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from monitor.directory import BudgetLookup, StackRecord, StaticDirectory
from monitor.incidents import Incident
from monitor.messages import runbook_url
from shared.logging import get_logger
from shared.pocketbase.filters import pb_filter

if TYPE_CHECKING:
    from shared.pocketbase.client import PocketBase

log = get_logger()

INCIDENTS = "incidents"


class PocketBaseDirectory(StaticDirectory):
    def __init__(self, pb: PocketBase, budgets: BudgetLookup | None = None) -> None:
        super().__init__((), budgets)
        self._pb = pb

    async def refresh(self) -> None:
        tenants = {t["id"]: t for t in await self._pb.list_records("tenants")}
        records = []
        for stack in await self._pb.list_records("stacks"):
            tenant = tenants.get(stack.get("tenant"))
            if tenant is None or not tenant.get("slug") or not stack.get("name"):
                continue
            records.append(
                StackRecord(
                    tenant=str(tenant["slug"]),
                    stack=str(stack["name"]),
                    template=stack.get("template") or None,
                    plan=tenant.get("plan") or None,
                    desired_state=str(stack.get("desired_state") or "running"),
                    status=str(stack.get("status") or "pending"),
                    coolify_status=stack.get("coolify_status") or None,
                    service_uuid=stack.get("coolify_service_uuid") or None,
                )
            )
        self.replace(records)
        log.debug("monitor.directory_refreshed", stacks=len(records))


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
                    query = pb_filter("incident_id = {:id}", id=incident.id)
                    existing = await self._pb.first(INCIDENTS, query)
                    record_id = None if existing is None else str(existing["id"])
                if record_id is None:
                    created = await self._pb.create_record(INCIDENTS, data)
                    record_id = str(created["id"])
                else:
                    await self._pb.update_record(INCIDENTS, record_id, data)
            except Exception:
                if not done:
                    raise
                break
            self._record_ids[incident.id] = record_id
            done.append(incident)
        return done

    async def aclose(self) -> None:
        await self._pb.aclose()
