"""Status of a tenant: plan, stacks, what PocketBase records and what Coolify reports now.

It settles what it observes (see :func:`status`); ``show_credentials`` appends an audit event.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from functions.context import Context
from functions.operations.common import locked, observe
from functions.operations.settle import TRANSITIONS, deadline_seconds, decide, elapsed_since, settle
from functions.records import Stack
from shared.coolify.models import ServiceStatus
from shared.errors import AuthError, BusyError, CfaError, ConfigurationError, NotFoundError
from shared.naming import validate_slug
from shared.plans import get_plan, stack_limit


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
