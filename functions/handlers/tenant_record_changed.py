"""A ``tenants`` record changed: make its stacks follow it.

- ``status=deleted`` → every stack deleted (volumes kept unless the record's ``delete_volumes``);
- ``requested_stacks`` → a stack record per new entry (the stacks' own handler provisions them);
- ``status=suspended`` → every running stack suspended; ``active`` → the ones it suspended resumed;
- a ``plan`` other than the one its stacks were deployed under → checked, then each redeployed.

A refusal (a plan the stacks do not fit, a bad request) changes nothing: it is written to the tenant's
``last_error`` and alerted once (again only when the message changes).
"""

from __future__ import annotations

from functions.alerts import Alert
from functions.events import StackRecordChanged, TenantRecordChanged
from functions.handlers.outcomes import handle_error, runbook_for
from functions.operations.requested_stacks import materialize_requested
from functions.operations.tenant_lifecycle import apply_plan, delete_tenant, resume_tenant, suspend_tenant
from functions.records import Tenant
from functions.runtime import Runtime
from shared.errors import CfaError, NotFoundError
from shared.logging import get_logger

log = get_logger()


async def handle(rt: Runtime, event: TenantRecordChanged, attempt: int) -> None:
    ctx = rt.context()
    try:
        tenant = Tenant.model_validate(await ctx.pb.get_record("tenants", event.tenant_id))
    except NotFoundError:
        return
    try:
        if tenant.status == "deleted":
            await delete_tenant(ctx, tenant.slug, delete_volumes=tenant.delete_volumes, wait=False)
            return
        for stack in await materialize_requested(ctx, tenant):
            rt.submit(StackRecordChanged(stack_id=stack.id, source="api"))
        if tenant.status == "suspended":
            await suspend_tenant(ctx, tenant.slug, wait=False)
            return
        await resume_tenant(ctx, tenant.slug, wait=False)
        tenant = await ctx.store.get_tenant(tenant.slug)
        await apply_plan(ctx, tenant, wait=False)
    except CfaError as err:
        handle_error(rt, err, attempt)
        await _refused(rt, tenant, err)
        return
    if tenant.last_error:
        await ctx.store.update_tenant(tenant, last_error="")


async def _refused(rt: Runtime, tenant: Tenant, err: CfaError) -> None:
    """Keep the refusal on the tenant record; alert only when it is news."""
    line = err.one_line()[:2000]
    current = await rt.context().store.get_tenant(tenant.slug)
    if current.last_error == line:
        return
    await rt.context().store.update_tenant(current, last_error=line)
    log.warning("handler.tenant_refused", tenant=tenant.slug, error=err.kind, reason=err.message)
    rt.alerter.send(
        Alert(
            severity="warning",
            title=f"tenant {tenant.slug}: its record asks for something the platform refuses",
            body=f"{line}\nNothing was changed. Fix the tenant's record (plan, requested_stacks) or stacks.",
            runbook=runbook_for(err),
        )
    )
