"""Suspend a stack: record the intent (desired_state=suspended), stop the service, wait until stopped.

Idempotent: a stack already stopped is just recorded as suspended. The monitor reads desired_state
and stays quiet about a suspended stack. Writes: the stack's desired_state, status, coolify_status,
and audit events ``suspend.requested`` / ``suspend.completed``.
"""

from __future__ import annotations

from functions.context import Context
from functions.operations.common import wait_for_service
from functions.operations.lifecycle import StackResult, Target, run_on_stack
from shared.coolify.models import ServiceStatus
from shared.errors import ConflictError
from shared.logging import get_logger

log = get_logger()


async def suspend(ctx: Context, tenant: str, stack: str, *, wait: bool = True) -> StackResult:
    def check(target: Target) -> None:
        if target.stack.desired_state == "deleted":
            raise ConflictError(f"stack {tenant}/{stack} is being deleted", advice="nothing to suspend")

    return await run_on_stack(
        ctx, "suspend", tenant, stack, lambda t: _suspend(ctx, t, wait=wait), check=check
    )


async def _suspend(ctx: Context, target: Target, *, wait: bool) -> Target:
    store, coolify = ctx.store, ctx.coolify
    stack = await store.update_stack(target.stack, desired_state="suspended")
    await store.audit("suspend.requested", tenant=target.tenant.slug, stack=stack.name)
    status = ServiceStatus.parse("exited")
    if stack.coolify_service_uuid:
        stopped_now = await coolify.stop_service(stack.coolify_service_uuid)
        log.info(
            "suspend.stop_requested", service_uuid=stack.coolify_service_uuid, already_stopped=not stopped_now
        )
        if wait and not ctx.dry_run:
            status = await wait_for_service(
                ctx,
                stack.coolify_service_uuid,
                lambda current: current.stopped,
                what=f"{target.tenant.slug}/{stack.name} stopping",
                advice="check the service in Coolify, then re-run cfa suspend",
            )
    stack = await store.update_stack(stack, status="suspended", coolify_status=status.raw, last_error="")
    await store.audit("suspend.completed", tenant=target.tenant.slug, stack=stack.name)
    log.info("suspend.completed")
    return Target(target.tenant, stack)
