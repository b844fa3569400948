"""Create and list tenants. Creating is idempotent: the same request again is a no-op success."""

from __future__ import annotations

import structlog

from functions.context import Context
from functions.operations.common import refusals_audited
from functions.records import Tenant
from shared.catalog import ParamSpec
from shared.errors import ConflictError, InvalidInput
from shared.naming import validate_slug
from shared.params import check_safe_string
from shared.plans import get_plan
from shared.pocketbase.client import RecordValidationError

_NAME = ParamSpec(name="name", type="string", description="the tenant's display name", max_length=200)


def validate_display_name(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("name", "is empty", advice='e.g. --name "Acme GmbH"')
    if len(value) > 200:
        raise InvalidInput("name", f"is {len(value)} characters long (at most 200)")
    try:
        check_safe_string(_NAME, value, multiline=False)
    except InvalidInput as err:
        raise InvalidInput("name", err.message.split(": ", 1)[-1]) from err
    return value.strip()


async def create_tenant(
    ctx: Context, slug: str, *, plan: str, name: str | None = None, max_stacks: int | None = None
) -> tuple[Tenant, bool]:
    """Create tenant ``slug``; returns (tenant, created). An identical existing tenant is not an error."""
    with structlog.contextvars.bound_contextvars(operation="tenants.create", tenant=slug):
        async with refusals_audited(ctx, "tenants.create", slug):
            slug = validate_slug(slug)
            chosen = get_plan(plan, ctx.settings)
            display = validate_display_name(name if name is not None else slug)
            if max_stacks is not None and (isinstance(max_stacks, bool) or not 1 <= max_stacks <= 1000):
                raise InvalidInput("max-stacks", f"must be between 1 and 1000, got {max_stacks}")
            if chosen.name == "sovereign" and max_stacks is None:
                raise InvalidInput(
                    "max-stacks", "is required for plan sovereign", advice="e.g. --max-stacks 50"
                )
            existing = await ctx.store.find_tenant(slug)
            if existing is not None:
                same = (existing.plan, existing.name, existing.max_stacks or None) == (
                    chosen.name,
                    display,
                    max_stacks,
                )
                if same:
                    return existing, False
                raise ConflictError(
                    f"tenant {slug} already exists (plan {existing.plan}, name {existing.name!r})",
                    advice="choose another slug; plan changes are not done by create",
                )
        try:
            tenant = await ctx.store.create_tenant(
                {
                    "slug": slug,
                    "name": display,
                    "plan": chosen.name,
                    "status": "active",
                    "max_stacks": max_stacks,
                }
            )
        except RecordValidationError as err:
            if err.not_unique:
                raise ConflictError(
                    f"tenant {slug} was created concurrently", advice="re-run to compare"
                ) from err
            raise
        await ctx.store.audit("tenants.created", tenant=slug, details={"plan": chosen.name, "name": display})
        await ctx.store.flush()
        return tenant, True


async def list_tenants(ctx: Context) -> list[Tenant]:
    return await ctx.store.list_tenants()
