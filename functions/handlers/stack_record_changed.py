"""A ``stacks`` record changed (or a sweep says it may need work): bring the stack to its desired state.

Level-triggered: the record is read again and compared with what was last given to Coolify. The
handler queues work and returns (``wait=False``); the status poller settles what Coolify then reports.

desired ``running``:   pending or drifted (parameters, secrets) → provision; suspended → resume
desired ``suspended``: running → suspend
desired ``deleted``:   anything but deleting/deleted → delete (volumes kept unless ``delete_volumes``)
a pending rotation (``rotation_pending`` not yet pushed) → finish it, whatever the tenant's status

Nothing is done while the stack is transitional, while its tenant is suspended or deleted (the tenant's
handler governs it then), or while it is failed at the configuration that failed (``failed_digest``).
Secret values written into ``params`` are moved to ``stack_secrets`` first.
"""

from __future__ import annotations

from functions.context import Context
from functions.events import StackRecordChanged
from functions.handlers.outcomes import give_up, handle_error
from functions.operations.delete import delete
from functions.operations.digest import desired_digest
from functions.operations.provision import ProvisionRequest, provision
from functions.operations.resume import resume
from functions.operations.rotate import finish_rotation
from functions.operations.settle import TRANSITIONAL
from functions.operations.suspend import suspend
from functions.records import Stack, Tenant
from functions.runtime import Runtime
from shared import redaction
from shared.errors import CfaError, NotFoundError
from shared.logging import get_logger

log = get_logger()


async def handle(rt: Runtime, event: StackRecordChanged, attempt: int) -> None:
    ctx = rt.context()
    try:
        stack = Stack.model_validate(await ctx.pb.get_record("stacks", event.stack_id))
        tenant = Tenant.model_validate(await ctx.pb.get_record("tenants", stack.tenant))
    except NotFoundError:
        return  # the record is gone: nothing to bring anywhere
    stack = await move_secret_params(ctx, tenant, stack)
    action, digest = await _decide(ctx, tenant, stack)
    if action is None:
        return
    if action == "provision" and await _waiting_for_secrets(ctx, tenant, stack):
        return
    log.info("handler.acting", action=action, tenant=tenant.slug, stack=stack.name, attempt=attempt)
    try:
        await _act(ctx, tenant, stack, action)
    except CfaError as err:
        handle_error(rt, err, attempt)
        await give_up(rt, ctx.store, tenant, stack, err, action=action, digest=digest, attempt=attempt)


async def _decide(ctx: Context, tenant: Tenant, stack: Stack) -> tuple[str | None, str]:
    if stack.status in TRANSITIONAL:
        return None, ""
    if _rotation_unpushed(stack) and stack.desired_state != "deleted" and tenant.status != "deleted":
        # A rotation that stopped before Coolify got its values: Coolify still serves the old ones.
        digest, _ = await desired_digest(ctx, tenant, stack)
        return (None if stack.status == "failed" and stack.failed_digest == digest else "rotate"), digest
    if tenant.status in ("suspended", "deleted"):
        return None, ""
    if stack.desired_state == "deleted":
        return (None if stack.status == "deleted" else "delete"), ""
    if stack.desired_state == "suspended":
        return (None if stack.status == "suspended" else "suspend"), ""
    if stack.status == "pending":
        return "provision", ""  # nothing was started yet: no need to compare anything
    digest, drifted = await desired_digest(ctx, tenant, stack)
    if stack.status == "failed" and stack.failed_digest == digest:
        return None, digest
    if stack.status == "suspended":
        return ("resume" if stack.coolify_service_uuid and not drifted else "provision"), digest
    if stack.status in ("deleted", "failed") or drifted or not stack.coolify_service_uuid:
        return "provision", digest
    return None, digest


def _rotation_unpushed(stack: Stack) -> bool:
    return bool(stack.rotation_pending) and not (stack.rotation_pending or {}).get("pushed")


async def _waiting_for_secrets(ctx: Context, tenant: Tenant, stack: Stack) -> bool:
    """A required secret parameter has no value yet (it may still come through ``secret_inputs``):
    say so on the stack, once, instead of failing it."""
    try:
        template = ctx.catalog.get(stack.template)
    except NotFoundError:
        return False
    stored = await ctx.store.get_secrets(stack)
    missing = [s.name for s in template.meta.parameters if s.secret and s.required and s.env not in stored]
    if not missing:
        return False
    note = (
        f"waiting for secret parameter(s) {', '.join(missing)}: write them to the secret_inputs "
        f"collection (tenant {tenant.slug}, stack {stack.name}) or run cfa provision with --param"
    )
    if stack.last_error != note:
        await ctx.store.update_stack(stack, last_error=note)
        log.info("handler.waiting_for_secrets", tenant=tenant.slug, stack=stack.name, missing=missing)
    return True


async def _act(ctx: Context, tenant: Tenant, stack: Stack, action: str) -> None:
    if action == "provision":
        request = ProvisionRequest(tenant=tenant.slug, template=stack.template, stack=stack.name, wait=False)
        await provision(ctx, request)
    elif action == "resume":
        await resume(ctx, tenant.slug, stack.name, wait=False)
    elif action == "rotate":
        await finish_rotation(ctx, tenant.slug, stack.name, wait=False)
    elif action == "suspend":
        await suspend(ctx, tenant.slug, stack.name, wait=False)
    else:
        await delete(ctx, tenant.slug, stack.name, delete_volumes=stack.delete_volumes, wait=False)


async def move_secret_params(ctx: Context, tenant: Tenant, stack: Stack) -> Stack:
    """Secret parameters written into ``params`` (by a superuser writer) go to ``stack_secrets`` and
    out of the record; the values are never logged."""
    try:
        template = ctx.catalog.get(stack.template)
    except NotFoundError:
        return stack
    secret = {spec.name: spec.env for spec in template.meta.parameters if spec.secret and spec.env}
    given = {name: value for name, value in (stack.params or {}).items() if name in secret}
    if not given:
        return stack
    stored = await ctx.store.get_secrets(stack)
    moved = {secret[name]: str(value) for name, value in given.items()}
    redaction.register_all(moved.values())
    values = {**stored, **moved}
    await ctx.store.put_secrets(stack, values, exists=bool(stored))
    public = {k: v for k, v in (stack.params or {}).items() if k not in secret}
    stack = await ctx.store.update_stack(stack, params=public)
    await ctx.store.audit(
        "secrets.moved_from_params", tenant=tenant.slug, stack=stack.name, details={"params": sorted(given)}
    )
    await ctx.store.flush()
    return stack
