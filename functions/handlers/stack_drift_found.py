"""The reconciler saw Coolify disagree with a stack's desired state: look again, and repair.

- desired ``running`` (tenant active), Coolify has no such service or reports it stopped → provision
  (which creates the service again, or starts it);
- desired ``suspended``, Coolify reports it running → suspend.

Coolify is asked again first (the reconciler's list may be old by now); a transitional stack, a failed
stack held at its failed configuration, or a stack of a suspended or deleted tenant is left alone.
"""

from __future__ import annotations

from functions.events import StackDriftFound
from functions.handlers.outcomes import give_up, handle_error
from functions.operations.common import observe
from functions.operations.digest import desired_digest
from functions.operations.provision import ProvisionRequest, provision
from functions.operations.settle import TRANSITIONAL
from functions.operations.suspend import suspend
from functions.records import Stack, Tenant
from functions.runtime import Runtime
from shared.errors import CfaError, NotFoundError
from shared.logging import get_logger

log = get_logger()


async def handle(rt: Runtime, event: StackDriftFound, attempt: int) -> None:
    ctx = rt.context()
    try:
        stack = Stack.model_validate(await ctx.pb.get_record("stacks", event.stack_id))
        tenant = Tenant.model_validate(await ctx.pb.get_record("tenants", stack.tenant))
    except NotFoundError:
        return
    if stack.status in TRANSITIONAL or not stack.coolify_service_uuid:
        return
    seen = await observe(ctx, stack.coolify_service_uuid)
    digest = ""
    action = None
    if stack.desired_state == "running" and (tenant.status or "active") == "active":
        digest, _ = await desired_digest(ctx, tenant, stack)
        held = stack.status == "failed" and stack.failed_digest == digest
        if not held and (seen is None or seen.stopped):
            action = "provision"
    elif stack.desired_state == "suspended" and seen is not None and not seen.stopped:
        action = "suspend"
    if action is None:
        return
    log.info("handler.repairing", kind=event.kind, action=action, tenant=tenant.slug, stack=stack.name)
    try:
        if action == "provision":
            request = ProvisionRequest(
                tenant=tenant.slug, template=stack.template, stack=stack.name, wait=False
            )
            await provision(ctx, request)
        else:
            await suspend(ctx, tenant.slug, stack.name, wait=False)
    except CfaError as err:
        handle_error(rt, err, attempt)
        await give_up(rt, ctx.store, tenant, stack, err, action=action, digest=digest, attempt=attempt)
