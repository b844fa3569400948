"""Suspend a stack: record the intent (desired_state=suspended), stop the service, settle on what Coolify
then reports.

Idempotent: a stack already stopped is recorded as suspended at once; one already ``suspending`` is
waited on, without asking Coolify again. While the stop is queued the stack
is ``suspending``; it becomes ``suspended`` only when Coolify reports it stopped (the monitor keeps
watching it until then). Writes: desired_state, status, transition_at, coolify_status, and audit events
``suspend.requested`` / ``suspend.completed`` (or ``suspend.failed``).
"""

from __future__ import annotations

from functions.context import Context
from functions.operations.common import await_settled, join_in_flight, raise_unless
from functions.operations.lifecycle import StackResult, Target, run_on_stack
from functions.operations.settle import settle
from functions.store import now_iso
from shared.coolify.models import ServiceStatus
from shared.errors import ConflictError
from shared.logging import get_logger

log = get_logger()


async def suspend(
    ctx: Context, tenant: str, stack: str, *, wait: bool = True, with_tenant: bool = False
) -> StackResult:
    """``with_tenant``: the tenant is being suspended; the stack is marked to come back with it."""

    def check(target: Target) -> None:
        if target.stack.desired_state == "deleted":
            raise ConflictError(f"stack {tenant}/{stack} is being deleted", advice="nothing to suspend")

    return await run_on_stack(
        ctx,
        "suspend",
        tenant,
        stack,
        lambda t: _suspend(ctx, t, wait=wait, with_tenant=with_tenant),
        check=check,
    )


async def _suspend(ctx: Context, target: Target, *, wait: bool, with_tenant: bool) -> Target:
    store, coolify = ctx.store, ctx.coolify
    tenant = target.tenant
    joined = await join_in_flight(ctx, tenant, target.stack, "suspend", wait=wait)
    if joined is not None:
        return Target(tenant, joined)
    stack = await store.update_stack(
        target.stack, desired_state="suspended", suspended_with_tenant=with_tenant
    )
    await store.audit("suspend.requested", tenant=tenant.slug, stack=stack.name)
    if not stack.coolify_service_uuid:
        # No service was ever created: nothing runs, so nothing has to stop.
        stack = await store.update_stack(stack, status="suspended", transition_at="", last_error="")
        await store.audit(
            "suspend.completed", tenant=tenant.slug, stack=stack.name, details={"service": None}
        )
        return Target(tenant, stack)
    stopped_now = await coolify.stop_service(stack.coolify_service_uuid)
    log.info(
        "suspend.stop_requested", service_uuid=stack.coolify_service_uuid, already_stopped=not stopped_now
    )
    stack = await store.update_stack(stack, status="suspending", transition_at=now_iso(), last_error="")
    if ctx.dry_run:
        return Target(tenant, stack)
    if not stopped_now:  # Coolify answered "already stopped": that is the observation
        stack = await settle(ctx, tenant, stack, ServiceStatus.parse("exited"), elapsed=0.0)
    elif wait:
        stack = await await_settled(ctx, tenant, stack)
        raise_unless(
            stack,
            "suspended",
            retry=f"check the service in Coolify, then re-run cfa suspend {tenant.slug}/{stack.name}",
        )
    return Target(tenant, stack)
