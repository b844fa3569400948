"""What the admin pages show, read from PocketBase one page at a time.

Lists are paged in PocketBase (filter, sort and count there), so a page costs the same with ten tenants
or ten thousand. Incidents come from the monitor's ``incidents`` collection, never from ``monitor/``.
Read-only: nothing here writes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from functions.records import Stack, Tenant
from shared.errors import CfaError, NotFoundError
from shared.plans import get_plan, stack_limit
from shared.pocketbase.client import PocketBase
from shared.pocketbase.filters import pb_filter
from shared.settings import Settings

INCIDENTS = "incidents"


@dataclass(frozen=True)
class Paged:
    rows: list[Any]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))


@dataclass(frozen=True)
class TenantRow:
    tenant: Tenant
    stacks: int
    quota: int | None  # None: a Sovereign tenant without max_stacks


@dataclass(frozen=True)
class TenantDetail:
    tenant: Tenant
    quota: int | None
    stacks: list[Stack]
    audit: list[dict[str, Any]]
    incidents: list[dict[str, Any]]
    incidents_note: str = ""


@dataclass(frozen=True)
class Filters:
    """The filters a list page was asked for (blank: not filtered), echoed back into its form."""

    values: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> str:
        return self.values.get(name, "")


def _and(*parts: str) -> str | None:
    present = [f"({p})" for p in parts if p]
    return " && ".join(present) or None


def quota(tenant: Tenant, settings: Settings) -> int | None:
    try:
        return stack_limit(get_plan(tenant.plan, settings), tenant.max_stacks)
    except CfaError:
        return None


async def tenants(pb: PocketBase, settings: Settings, filters: Filters, page: int, per_page: int) -> Paged:
    """Tenants matching the search (slug or name contains it), plan and status, with their stack counts."""
    query = _and(
        pb_filter("slug ~ {:q} || name ~ {:q}", q=filters.get("q")) if filters.get("q") else "",
        pb_filter("plan = {:plan}", plan=filters.get("plan")) if filters.get("plan") else "",
        pb_filter("status = {:status}", status=filters.get("status")) if filters.get("status") else "",
    )
    records, total = await pb.page("tenants", filter=query, sort="slug", page=page, per_page=per_page)
    found = [Tenant.model_validate(r) for r in records]
    counts = {t.id: 0 for t in found}
    if found:
        ids = {f"t{i}": t.id for i, t in enumerate(found)}
        owned = pb_filter(" || ".join(f"tenant = {{:{key}}}" for key in ids), **ids)
        stacks = await pb.list_records(
            "stacks", filter=_and(owned, "desired_state != 'deleted'"), fields="tenant"
        )
        for stack in stacks:
            counts[str(stack["tenant"])] = counts.get(str(stack["tenant"]), 0) + 1
    rows = [TenantRow(t, counts[t.id], quota(t, settings)) for t in found]
    return Paged(rows, total, page, per_page)


async def tenant_detail(pb: PocketBase, settings: Settings, slug: str) -> TenantDetail:
    record = await pb.first("tenants", pb_filter("slug = {:slug}", slug=slug))
    if record is None:
        raise NotFoundError(f"tenant {slug!r} does not exist", advice="pick one from the tenants list")
    tenant = Tenant.model_validate(record)
    stacks = [
        Stack.model_validate(r)
        for r in await pb.list_records(
            "stacks", filter=pb_filter("tenant = {:id}", id=tenant.id), sort="name"
        )
    ]
    audit = await pb.list_records(
        "audit_events", filter=pb_filter("tenant = {:slug}", slug=slug), sort="-time,-seq", limit=50
    )
    incidents, note = await _open_incidents(pb, slug)
    return TenantDetail(tenant, quota(tenant, settings), stacks, audit, incidents, note)


async def _open_incidents(pb: PocketBase, slug: str) -> tuple[list[dict[str, Any]], str]:
    if await pb.get_collection(INCIDENTS) is None:
        return [], "no incidents collection yet: run cfa pb migrate (the monitor writes incidents there)"
    rows = await pb.list_records(
        INCIDENTS,
        filter=pb_filter("tenant = {:slug} && state = 'firing'", slug=slug),
        sort="-opened_at",
        limit=100,
    )
    return rows, ""


def _pb_time(value: str, *, end: bool) -> str:
    """A date (``2026-12-01``) or a datetime-local value (``2026-12-01T10:30``) as PocketBase's UTC
    format; the whole day for a bare end date. ValueError for anything else."""
    moment = datetime.fromisoformat(value)
    if end and len(value) == 10:
        return moment.strftime("%Y-%m-%d 23:59:59.999Z")
    return moment.strftime("%Y-%m-%d %H:%M:%S.000Z")


async def audit(pb: PocketBase, filters: Filters, page: int, per_page: int) -> Paged:
    """Audit events, newest first: tenant (exact), action (contains), outcome, from/until (UTC)."""
    query = _and(
        pb_filter("tenant = {:t}", t=filters.get("tenant")) if filters.get("tenant") else "",
        pb_filter("action ~ {:a}", a=filters.get("action")) if filters.get("action") else "",
        pb_filter("outcome = {:o}", o=filters.get("outcome")) if filters.get("outcome") else "",
        pb_filter("time >= {:s}", s=_pb_time(filters.get("since"), end=False))
        if filters.get("since")
        else "",
        pb_filter("time <= {:u}", u=_pb_time(filters.get("until"), end=True)) if filters.get("until") else "",
    )
    rows, total = await pb.page("audit_events", filter=query, sort="-time,-seq", page=page, per_page=per_page)
    return Paged(rows, total, page, per_page)


async def incidents(pb: PocketBase, filters: Filters, page: int, per_page: int) -> Paged | None:
    """The monitor's incidents, newest first (None: the collection does not exist yet)."""
    if await pb.get_collection(INCIDENTS) is None:
        return None
    query = _and(
        pb_filter("state = {:s}", s=filters.get("state")) if filters.get("state") else "",
        pb_filter("tenant = {:t}", t=filters.get("tenant")) if filters.get("tenant") else "",
        pb_filter("kind = {:k}", k=filters.get("kind")) if filters.get("kind") else "",
    )
    rows, total = await pb.page(INCIDENTS, filter=query, sort="-opened_at", page=page, per_page=per_page)
    return Paged(rows, total, page, per_page)
