"""Status of a tenant: plan, stacks, what PocketBase records and what Coolify reports now.

It settles what it observes (see :func:`status`); ``show_credentials`` appends an audit event.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from functions.context import Context
from functions.operations.common import locked, observe
from functions.operations.settle import TRANSITIONS, deadline_seconds, decide, elapsed_since, settle
from functions.records import Stack, Tenant
from shared.coolify.models import ServiceStatus
from shared.errors import AuthError, BusyError, CfaError, ConfigurationError, NotFoundError
from shared.naming import validate_slug
from shared.plans import Plan, get_plan, stack_limit
from shared.reservations import reserved


class StackStatus(BaseModel):
    name: str
    template: str
    desired_state: str
    status: str
    coolify_status: str
    service_uuid: str
    server_uuid: str
    fqdn: str
    last_error: str
    kept_volumes: list[str] = Field(default_factory=list)
    credentials: dict[str, str] | None = None


class TenantStatus(BaseModel):
    slug: str
    name: str
    plan: str
    status: str
    stack_limit: int | None
    project_uuid: str
    coolify_reachable: bool
    note: str = ""
    stacks: list[StackStatus] = Field(default_factory=list)


async def _observe(ctx: Context, stack: Stack) -> tuple[ServiceStatus | None, str, bool]:
    """(what Coolify reports, how to show it, whether it is an observation to settle on).

    A configuration or credentials problem is raised, never shown as a stack state."""
    if not stack.coolify_service_uuid:
        return None, "-", False
    if ctx.offline:
        return None, "unknown (no Coolify configured)", False
    try:
        seen = await observe(ctx, stack.coolify_service_uuid)
    except (ConfigurationError, AuthError):
        raise
    except CfaError as err:
        return None, f"unknown ({err.kind})", False
    return seen, seen.raw if seen is not None else "missing in Coolify", True


async def status(ctx: Context, tenant: str, *, show_credentials: bool = False) -> TenantStatus:
    """The tenant's stacks as recorded and as Coolify reports them now.

    What Coolify reports is settled into the records (``settle.py``: a queued provision, suspend,
    resume or delete ends here as well as in the operation that queued it), under the tenant lock
    and only if it is free: while another operation holds it, the records are shown as they are.
    ``show_credentials`` appends an audit event (the only place a secret is ever displayed).
    """
    store = ctx.store
    record = await store.get_tenant(validate_slug(tenant))
    try:
        limit: int | None = stack_limit(get_plan(record.plan, ctx.settings), record.max_stacks)
    except CfaError:
        limit = None
    stacks = await store.list_stacks(record)
    seen: dict[str, tuple[ServiceStatus | None, str, bool]] = {s.id: await _observe(ctx, s) for s in stacks}
    reachable = all(not shown.startswith("unknown") for _, shown, _ in seen.values())
    note = ""
    if any(_would_change(ctx, s, *seen[s.id]) for s in stacks) and not ctx.dry_run:
        try:
            async with locked(ctx, record.slug, f"status {record.slug}"):
                settled = []
                for stack in await store.list_stacks(record):  # as they are under the lock
                    observed, _, real = seen.get(stack.id, (None, "", False))
                    if real and stack.coolify_service_uuid:
                        stack = await settle(ctx, record, stack, observed)
                    settled.append(stack)
                stacks = settled
        except BusyError:
            note = "another operation holds the tenant's lock: statuses are shown as recorded"
    rows = []
    for stack in stacks:
        credentials = None
        if show_credentials and stack.active:
            credentials = await _credentials(ctx, stack)
        rows.append(
            StackStatus(
                name=stack.name,
                template=stack.template,
                desired_state=stack.desired_state,
                status=stack.status,
                coolify_status=seen.get(stack.id, (None, "-", False))[1],
                service_uuid=stack.coolify_service_uuid,
                server_uuid=stack.server_uuid,
                fqdn=stack.fqdn,
                last_error=stack.last_error,
                kept_volumes=stack.kept_volumes or [],
                credentials=credentials,
            )
        )
    if show_credentials:
        await ctx.store.audit(
            "status.credentials_shown",
            tenant=record.slug,
            details={"stacks": [s.name for s in rows if s.credentials]},
        )
        await ctx.store.flush()
    return TenantStatus(
        slug=record.slug,
        name=record.name,
        plan=record.plan,
        status=record.status or "active",
        stack_limit=limit,
        project_uuid=record.coolify_project_uuid,
        coolify_reachable=reachable,
        note=note,
        stacks=rows,
    )


def _would_change(
    ctx: Context, stack: Stack, observed: ServiceStatus | None, _shown: str, real: bool
) -> bool:
    if not real:
        return False
    action = TRANSITIONS.get(stack.status, "")
    verdict = decide(
        stack,
        observed,
        elapsed=elapsed_since(stack, ctx.wall()),
        deadline=deadline_seconds(ctx, action),
    )
    raw = observed.raw if observed is not None else ""
    return verdict.status != stack.status or raw != stack.coolify_status


async def _credentials(ctx: Context, stack: Stack) -> dict[str, str]:
    """The generated secrets a template marks as credentials (e.g. an admin login)."""
    try:
        template = ctx.catalog.get(stack.template)
    except NotFoundError:
        return {}
    wanted = {s.env for s in template.meta.secrets if s.credential}
    if not wanted:
        return {}
    values = await ctx.store.get_secrets(stack)
    return {k: v for k, v in sorted(values.items()) if k in wanted}


class TenantSummary(BaseModel):
    slug: str
    plan: str
    status: str
    stacks: int
    stack_limit: int | None
    by_status: dict[str, int]
    cpus_reserved: float
    memory_reserved_mib: int
    failing: list[str] = Field(default_factory=list)
    drifting: list[str] = Field(default_factory=list)


class Overview(BaseModel):
    tenants: list[TenantSummary]
    coolify_reachable: bool
    by_status: dict[str, int]
    notes: list[str] = Field(default_factory=list)


# Statuses that fit each desired state, transitions included; anything else is drift.
_FITS = {
    "running": {"running", "pending", "provisioning", "resuming", "rotating"},
    "suspended": {"suspended", "suspending"},
    "deleted": {"deleted", "deleting"},
}


async def overview(ctx: Context) -> Overview:
    """Every tenant: stacks by status, quota and reserved resources used, stacks failing or drifting
    (recorded status not what is desired). Coolify is read once (``GET /services``); what it reports
    is settled into the records as in :func:`status` (each tenant under a try-lock)."""
    tenants = await ctx.store.list_tenants()
    stacks = await ctx.store.list_all_stacks()
    live: dict[str, ServiceStatus] | None = None
    notes: list[str] = []
    if not ctx.offline:
        try:
            live = {s.uuid: s.parsed_status for s in await ctx.coolify.list_services()}
        except (ConfigurationError, AuthError):
            raise
        except CfaError as err:
            notes.append(f"Coolify did not answer ({err.kind}): statuses are shown as recorded")
    by_tenant: dict[str, list[Stack]] = {}
    for stack in stacks:
        by_tenant.setdefault(stack.tenant, []).append(stack)
    summaries = []
    for tenant in tenants:
        own = by_tenant.get(tenant.id, [])
        if live is not None and not ctx.dry_run:
            own = await _settle_observed(ctx, tenant, own, live, notes)
        summaries.append(_summary(ctx, tenant, own))
    total: dict[str, int] = {}
    for summary in summaries:
        for key, count in summary.by_status.items():
            total[key] = total.get(key, 0) + count
    return Overview(tenants=summaries, coolify_reachable=live is not None, by_status=total, notes=notes)


async def _settle_observed(
    ctx: Context, tenant: Tenant, stacks: list[Stack], live: dict[str, ServiceStatus], notes: list[str]
) -> list[Stack]:
    def differs(stack: Stack) -> bool:
        seen = live.get(stack.coolify_service_uuid)
        return bool(stack.coolify_service_uuid) and _would_change(ctx, stack, seen, "", True)

    if not any(differs(s) for s in stacks):
        return stacks
    try:
        async with locked(ctx, tenant.slug, f"status {tenant.slug}"):
            settled = {
                s.id: await settle(ctx, tenant, s, live.get(s.coolify_service_uuid))
                for s in await ctx.store.list_stacks(tenant)
                if differs(s)
            }
    except BusyError:
        notes.append(f"{tenant.slug}: another operation holds its lock; shown as recorded")
        return stacks
    return [settled.get(s.id, s) for s in stacks]


def _summary(ctx: Context, tenant: Tenant, stacks: list[Stack]) -> TenantSummary:
    try:
        plan: Plan | None = get_plan(tenant.plan, ctx.settings)
        limit: int | None = stack_limit(plan, tenant.max_stacks) if plan else None
    except CfaError:
        plan, limit = None, None
    active = [s for s in stacks if s.active]
    cpus, memory = 0.0, 0
    for stack in active:
        if plan is None:
            break
        try:
            reservation = reserved(ctx.catalog.get(stack.template), plan, stack.params)
        except CfaError:
            continue
        cpus += reservation.cpus
        memory += reservation.memory_bytes // 2**20
    by_status: dict[str, int] = {}
    for stack in stacks:
        by_status[stack.status] = by_status.get(stack.status, 0) + 1
    return TenantSummary(
        slug=tenant.slug,
        plan=tenant.plan,
        status=tenant.status or "active",
        stacks=len(active),
        stack_limit=limit,
        by_status=by_status,
        cpus_reserved=round(cpus, 2),
        memory_reserved_mib=memory,
        failing=[s.name for s in stacks if s.status in ("failed", "degraded")],
        drifting=[s.name for s in stacks if s.status not in _FITS.get(s.desired_state, set())],
    )
