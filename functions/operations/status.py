"""Read-only status of a tenant: plan, stacks, what PocketBase records and what Coolify reports now.

Writes nothing, except that ``show_credentials`` appends an audit event (it is the only place a
secret is ever displayed).
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from functions.context import Context
from functions.records import Stack
from shared.errors import CfaError, NotFoundError
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
    credentials: dict[str, str] | None = None


class TenantStatus(BaseModel):
    slug: str
    name: str
    plan: str
    status: str
    stack_limit: int | None
    project_uuid: str
    coolify_reachable: bool
    stacks: list[StackStatus] = Field(default_factory=list)


async def _live_status(ctx: Context, stack: Stack) -> tuple[str, bool]:
    """(Coolify's status now or a note, whether Coolify answered)."""
    if not stack.coolify_service_uuid:
        return ("-", True)
    if ctx.offline:
        return ("unknown (no Coolify configured)", False)
    try:
        service = await ctx.coolify.get_service(stack.coolify_service_uuid)
    except NotFoundError:
        return ("missing in Coolify", True)
    except CfaError as err:
        return (f"unknown ({err.kind})", False)
    return (service.status or "unknown", True)


async def status(ctx: Context, tenant: str, *, show_credentials: bool = False) -> TenantStatus:
    store = ctx.store
    record = await store.get_tenant(validate_slug(tenant))
    try:
        limit: int | None = stack_limit(get_plan(record.plan, ctx.settings), record.max_stacks)
    except CfaError:
        limit = None
    reachable = True
    stacks = []
    for stack in await store.list_stacks(record):
        live, answered = await _live_status(ctx, stack)
        reachable = reachable and answered
        credentials = None
        if show_credentials and stack.active:
            credentials = await _credentials(ctx, stack)
        stacks.append(
            StackStatus(
                name=stack.name,
                template=stack.template,
                desired_state=stack.desired_state,
                status=stack.status,
                coolify_status=live,
                service_uuid=stack.coolify_service_uuid,
                server_uuid=stack.server_uuid,
                fqdn=stack.fqdn,
                last_error=stack.last_error,
                credentials=credentials,
            )
        )
    if show_credentials:
        await ctx.store.audit(
            "status.credentials_shown",
            tenant=record.slug,
            details={"stacks": [s.name for s in stacks if s.credentials]},
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
        stacks=stacks,
    )


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
