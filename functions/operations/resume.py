"""Resume a suspended stack: desired_state=running, start the service, settle on what Coolify reports.

Idempotent: a running stack is just recorded as running; one already ``resuming`` is waited on,
without asking Coolify again. While the start is queued the stack is
``resuming``; ``running`` once Coolify reports running:healthy. Writes: desired_state, status,
transition_at, coolify_status, and audit events ``resume.requested`` / ``resume.completed`` (or
``resume.failed``).
"""

from __future__ import annotations

from functions.context import Context
from functions.operations.common import await_settled, join_in_flight, observe, raise_unless
from functions.operations.lifecycle import StackResult, Target, run_on_stack
from functions.operations.settle import TRANSITIONAL, settle
from functions.store import now_iso
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
    tenant = target.tenant
    joined = await join_in_flight(ctx, tenant, target.stack, "resume", wait=wait)
    if joined is not None:
        return Target(tenant, joined)
    stack = await store.update_stack(target.stack, desired_state="running", suspended_with_tenant=False)
    await store.audit("resume.requested", tenant=tenant.slug, stack=stack.name)
    started_now = await coolify.start_service(stack.coolify_service_uuid)
    log.info(
        "resume.start_requested", service_uuid=stack.coolify_service_uuid, already_running=not started_now
    )
    stack = await store.update_stack(stack, status="resuming", transition_at=now_iso(), last_error="")
    if ctx.dry_run:
        return Target(tenant, stack)
    if not started_now:  # "already running": settle on what Coolify reports now
        stack = await settle(ctx, tenant, stack, await observe(ctx, stack.coolify_service_uuid), elapsed=0.0)
    if wait and stack.status in TRANSITIONAL:
        stack = await await_settled(ctx, tenant, stack)
    if wait or stack.status not in TRANSITIONAL:
        retry = f"check the service in Coolify; re-run cfa resume {tenant.slug}/{stack.name} to keep waiting"
        raise_unless(stack, "running", retry=retry)
    return Target(tenant, stack)
