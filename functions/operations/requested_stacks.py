"""A tenant record's ``requested_stacks`` becomes stack records: ``[{"template", "name", "params"}]``.

Level-triggered and all-or-nothing: every entry is checked first (template, stack name, plan minimum,
quota, parameters); a refusal creates nothing. An entry whose stack already exists is left as it is,
except that secret values in it are moved: once the stack records exist, ``requested_stacks`` holds no
secret value (they go to ``stack_secrets``, like the ``secret_inputs`` inbox's). Removing an entry
deletes nothing: a stack is deleted only by its own record (``desired_state=deleted``) or an operator.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from functions.context import Context
from functions.records import Stack, Tenant
from shared import redaction
from shared.errors import ConflictError, InvalidInput
from shared.naming import validate_stack_name
from shared.params import validate_params
from shared.plans import check_quota, check_template_allowed, get_plan


class RequestedStack(BaseModel):
    model_config = ConfigDict(extra="forbid")

    template: str
    name: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)


def parse_requested(raw: object) -> list[RequestedStack]:
    if raw in (None, "", []):
        return []
    if not isinstance(raw, list):
        raise InvalidInput("requested_stacks", "must be a list of {template, name, params}")
    try:
        return [RequestedStack.model_validate(item) for item in raw]
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidInput(
            "requested_stacks",
            f"{where}: {first['msg']}",
            advice='e.g. [{"template": "telegram-bot", "name": "bot", "params": {}}]',
        ) from err


async def materialize_requested(ctx: Context, tenant: Tenant) -> list[Stack]:
    """Create the requested stacks that have no record yet (desired running, pending); returns them.

    Writes: stack records, ``stack_secrets`` (secret values of the request), the tenant's
    ``requested_stacks`` without secret values, and ``stacks.requested`` audit events.
    """
    requests = parse_requested(tenant.requested_stacks)
    if not requests:
        return []
    plan = get_plan(tenant.plan, ctx.settings)
    existing = {s.name: s for s in await ctx.store.list_stacks(tenant)}
    active = sum(1 for s in existing.values() if s.active)
    checked: list[tuple[RequestedStack, str, dict[str, Any], dict[str, str]]] = []
    names: set[str] = set()
    for request in requests:
        template = ctx.catalog.get(request.template)
        name = validate_stack_name(request.name or template.meta.default_stack_name)
        if name in names:
            raise InvalidInput("requested_stacks", f"stack name {name!r} is requested twice")
        names.add(name)
        current = existing.get(name)
        if current is not None and current.active and current.template != template.name:
            raise ConflictError(
                f"requested stack {name} ({template.name}) exists with template {current.template}",
                advice="choose another name in requested_stacks",
            )
        check_template_allowed(plan, tenant.slug, template.name, template.meta.plan_minimum)
        params = validate_params(template, request.params, require_secrets=False)
        if current is None or not current.active:
            check_quota(plan, tenant.slug, active, tenant.max_stacks)
            active += 1
        checked.append((request, name, params.public, params.secret_env))
    created = []
    for request, name, public, secret_env in checked:
        stack = existing.get(name)
        if stack is None:
            stack = await ctx.store.create_stack(
                {
                    "tenant": tenant.id,
                    "name": name,
                    "template": request.template,
                    "params": public,
                    "desired_state": "running",
                    "status": "pending",
                }
            )
            created.append(stack)
            await ctx.store.audit(
                "stacks.requested", tenant=tenant.slug, stack=name, details={"template": request.template}
            )
        if secret_env:
            redaction.register_all(secret_env.values())
            stored = await ctx.store.get_secrets(stack)
            await ctx.store.put_secrets(stack, {**stored, **secret_env}, exists=bool(stored))
            await ctx.store.audit(
                "secrets.received",
                tenant=tenant.slug,
                stack=name,
                details={"keys": sorted(secret_env), "from": "requested_stacks"},
            )
    await _strip_secrets(ctx, tenant, requests)
    await ctx.store.flush()
    return created


async def _strip_secrets(ctx: Context, tenant: Tenant, requests: list[RequestedStack]) -> None:
    stripped = []
    for request in requests:
        template = ctx.catalog.get(request.template)
        secret = {spec.name for spec in template.meta.parameters if spec.secret}
        params = {k: v for k, v in request.params.items() if k not in secret}
        stripped.append({**request.model_dump(exclude_none=True), "params": params})
    if stripped != tenant.requested_stacks:
        await ctx.store.update_tenant(tenant, requested_stacks=stripped)
