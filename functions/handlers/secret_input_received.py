"""A ``secret_inputs`` record arrived: move its values into the stack's ``stack_secrets`` and delete it.

The inbox is write-only for its writer (list and view are superuser-only), so secret parameters never
sit readable in a record a tenant-facing system can read. The values are validated against the
template's secret parameters; a bad input (unknown tenant or stack, a non-secret or unknown parameter,
a value that fails its format) is refused: audited without the values, and deleted all the same (a
secret must not wait in PocketBase). The stack is then brought up to date by its own handler (the new
secrets change its digest: its variables are pushed and it restarts).
"""

from __future__ import annotations

from typing import Any

from functions.events import SecretInputReceived, StackRecordChanged
from functions.handlers.outcomes import handle_error
from functions.operations.requested_stacks import materialize_requested
from functions.runtime import Runtime
from shared import redaction
from shared.errors import CfaError, InvalidInput, NotFoundError
from shared.logging import get_logger
from shared.params import validate_params

log = get_logger()


async def handle(rt: Runtime, event: SecretInputReceived, attempt: int) -> None:
    ctx = rt.context()
    try:
        record = await ctx.pb.get_record("secret_inputs", event.input_id)
    except NotFoundError:
        return  # already moved
    values: Any = record.get("values")
    if isinstance(values, dict):
        redaction.register_all(str(v) for v in values.values())
    tenant_slug, stack_name = str(record.get("tenant", "")), str(record.get("stack", ""))
    try:
        tenant = await ctx.store.get_tenant(tenant_slug)
        stack = await ctx.store.find_stack(tenant, stack_name)
        if stack is None:  # it may still be only requested
            await materialize_requested(ctx, tenant)
            stack = await ctx.store.get_stack(tenant, stack_name)
        template = ctx.catalog.get(stack.template)
        if not isinstance(values, dict) or not values:
            raise InvalidInput("values", "must be an object of secret parameter names to values")
        secret = {spec.name for spec in template.meta.parameters if spec.secret}
        public = sorted(set(values) - secret)
        if public:
            raise InvalidInput(f"param {public[0]}", "is not a secret parameter of " + template.name)
        # The stack's stored parameters complete the set, so only the given values can be refused.
        raw = {**(stack.params or {}), **{k: str(v) for k, v in values.items()}}
        given = validate_params(template, raw, require_secrets=False)
        stored = await ctx.store.get_secrets(stack)
        await ctx.store.put_secrets(stack, {**stored, **given.secret_env}, exists=bool(stored))
        await ctx.pb.delete_record("secret_inputs", event.input_id)
        await ctx.store.audit(
            "secrets.received",
            tenant=tenant.slug,
            stack=stack.name,
            details={"keys": sorted(given.secret_env), "from": "secret_inputs"},
        )
        await ctx.store.flush()
        rt.submit(StackRecordChanged(stack_id=stack.id, source="api"))
    except CfaError as err:
        handle_error(rt, err, attempt)
        log.warning("secrets.refused", error=err.kind, reason=err.message)
        await ctx.pb.delete_record("secret_inputs", event.input_id)
        await ctx.store.audit(
            "secrets.received",
            outcome="refused",
            details={
                "input_tenant": repr(tenant_slug[:40]),
                "input_stack": repr(stack_name[:40]),
                "reason": err.message,
            },
        )
        await ctx.store.flush()
