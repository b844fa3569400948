"""Resume a suspended stack: desired_state=running, start the service, wait for running:healthy.

Idempotent: a running stack is just recorded as running. Writes: desired_state, status,
coolify_status, and audit events ``resume.requested`` / ``resume.completed``.
"""

from __future__ import annotations

from functions.context import Context
from functions.operations.common import wait_for_service
from functions.operations.lifecycle import StackResult, Target, run_on_stack
from shared.errors import ConflictError
from shared.logging import get_logger

log = get_logger()


async def resume(ctx: Context, tenant: str, stack: str, *, wait: bool = True) -> StackResult:
    def check(target: Target) -> None:
        if target.tenant.status in ("suspended", "deleted"):
            raise ConflictError(
                f"tenant {tenant} is {target.tenant.status}", advice="reactivate the tenant first"
            )
        if target.stack.desired_state == "deleted":
            raise ConflictError(
                f"stack {tenant}/{stack} is being deleted", advice="provision it again instead"
            )
        if not target.stack.coolify_service_uuid:
            raise ConflictError(
                f"stack {tenant}/{stack} has no Coolify service yet",
                advice=f"provision it: cfa provision {tenant} {target.stack.template} --name {stack}",
            )

    return await run_on_stack(ctx, "resume", tenant, stack, lambda t: _resume(ctx, t, wait=wait), check=check)


async def _resume(ctx: Context, target: Target, *, wait: bool) -> Target:
    store, coolify = ctx.store, ctx.coolify
    stack = await store.update_stack(target.stack, desired_state="running")
    await store.audit("resume.requested", tenant=target.tenant.slug, stack=stack.name)
    started_now = await coolify.start_service(stack.coolify_service_uuid)
    log.info(
        "resume.start_requested", service_uuid=stack.coolify_service_uuid, already_running=not started_now
    )
    if ctx.dry_run or not wait or ctx.settings.provision_wait_seconds == 0:
        stack = await store.update_stack(stack, status="provisioning")
        return Target(target.tenant, stack)

    status = await wait_for_service(
        ctx,
        stack.coolify_service_uuid,
        lambda current: current.healthy,
        what=f"{target.tenant.slug}/{stack.name} becoming running:healthy",
        advice="check the service in Coolify; re-running cfa resume keeps waiting",
    )
    stack = await store.update_stack(stack, status="running", coolify_status=status.raw, last_error="")
    await store.audit("resume.completed", tenant=target.tenant.slug, stack=stack.name)
    log.info("resume.completed")
    return Target(target.tenant, stack)
