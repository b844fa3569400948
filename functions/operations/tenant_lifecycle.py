"""A tenant's whole lifecycle: change its plan (or name, or stack limit), suspend, resume and delete it.

Each runs under the tenant's lock and is carried out stack by stack by the stack operations
(provision, suspend, resume, delete): no second implementation. All are idempotent and level-
triggered (the event functions call them on a record change, and a replay changes nothing more):

- a plan change is checked against every active stack first (stack count, template minimum, every
  render under the new limits) and against the host budget (their capacity claims re-computed under
  the new plan, ``capacity_claims.claim_plan``), and refused with nothing changed when something does
  not fit; then the record is updated and each stack re-rendered and redeployed (a suspended one only
  updated);
- suspend stops every running stack and marks it ``suspended_with_tenant``; resume starts exactly
  those again (a stack suspended on its own stays suspended);
- delete deletes every stack (volumes kept unless asked) and, with the last, the tenant's project.

Writes: the tenant record (plan, name, max_stacks, status), the stack operations' writes, and the
audit events ``tenants.updated``, ``tenants.suspended``, ``tenants.resumed``, ``tenants.deleted``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from pydantic import BaseModel, Field

from functions.context import Context
from functions.operations.capacity_claims import claim_plan
from functions.operations.common import locked, refusals_audited
from functions.operations.delete import delete
from functions.operations.provision import ProvisionRequest, provision
from functions.operations.resume import resume
from functions.operations.suspend import suspend
from functions.operations.tenants import validate_display_name
from functions.records import Stack, Tenant
from shared.errors import (
    CfaError,
    ConflictError,
    InvalidInput,
    NotConvergedError,
    PlanLimitError,
    StackFailedError,
    TerminalError,
)
from shared.logging import get_logger
from shared.naming import validate_slug
from shared.params import validate_params
from shared.plans import Plan, check_template_allowed, get_plan, stack_limit
from shared.rendering import render_stack

log = get_logger()


class StackOutcome(BaseModel):
    stack: str
    action: str
    status: str = ""
    error: str = ""


class TenantResult(BaseModel):
    tenant: str
    status: str
    plan: str
    name: str
    max_stacks: int | None = None
    changed: bool
    stacks: list[StackOutcome] = Field(default_factory=list)


def _result(tenant: Tenant, changed: bool, outcomes: list[StackOutcome]) -> TenantResult:
    return TenantResult(
        tenant=tenant.slug,
        status=tenant.status or "active",
        plan=tenant.plan,
        name=tenant.name,
        max_stacks=tenant.max_stacks,
        changed=changed,
        stacks=outcomes,
    )


async def _each(
    ctx: Context, stacks: list[Stack], action: str, run: Callable[[Stack], Awaitable[Any]]
) -> list[StackOutcome]:
    """Run ``run`` on every stack; a failure is collected, not fatal for the others. Raises one error
    naming every stack that failed once all were tried (retryable only if each failure was)."""
    outcomes, failures = [], []
    for stack in stacks:
        try:
            result = await run(stack)
            outcomes.append(
                StackOutcome(stack=stack.name, action=action, status=getattr(result, "status", ""))
            )
        except CfaError as err:
            outcomes.append(StackOutcome(stack=stack.name, action=action, error=err.one_line()))
            failures.append((stack.name, err))
    if failures:
        listed = "; ".join(f"{name}: {err.message}" for name, err in failures)
        text = f"{len(failures)} of {len(stacks)} stack(s) did not {action}: {listed}"
        advice = "re-run the same command: stacks already done are left as they are"
        if all(err.retryable for _, err in failures):
            raise NotConvergedError(
                text, advice=advice, details={"outcomes": [o.model_dump() for o in outcomes]}
            )
        raise StackFailedError(text, advice=advice, details={"outcomes": [o.model_dump() for o in outcomes]})
    return outcomes


# --- plan, name, stack limit --------------------------------------------------------------------------


def _check_fits(
    ctx: Context, tenant: Tenant, plan: Plan, max_stacks: int | None, stacks: list[Stack]
) -> None:
    """Every active stack fits ``plan``: count, template minimum, and a render under its limits."""
    active = [s for s in stacks if s.active]
    limit = stack_limit(plan, max_stacks)
    if len(active) > limit:
        raise PlanLimitError(
            f"plan {plan.name} allows {limit} stack{'s' if limit != 1 else ''}; "
            f"tenant {tenant.slug} has {len(active)} ({', '.join(s.name for s in active)})",
            advice=f"delete {len(active) - limit} stack(s) first, or choose a larger plan",
        )
    problems = []
    for stack in active:
        try:
            template = ctx.catalog.get(stack.template)
            check_template_allowed(plan, tenant.slug, template.name, template.meta.plan_minimum)
            render_stack(
                template,
                tenant=tenant.slug,
                plan=plan,
                stack=stack.name,
                params=validate_params(template, stack.params or {}, require_secrets=False),
                base_domain=ctx.settings.base_domain,
                router_url=str(ctx.settings.router_url) if ctx.settings.router_url else None,
            )
        except CfaError as err:
            problems.append(f"{stack.name}: {err.message}")
    if problems:
        raise PlanLimitError(
            f"tenant {tenant.slug} does not fit plan {plan.name}: {'; '.join(problems)}",
            advice="delete or change those stacks first, or choose another plan",
        )


async def update_tenant(
    ctx: Context,
    slug: str,
    *,
    plan: str | None = None,
    name: str | None = None,
    max_stacks: int | None = None,
    wait: bool = True,
) -> TenantResult:
    """Change the tenant's plan, display name or stack limit (only what is given).

    A new plan or limit that does not fit the tenant's stacks, or a plan whose capacity claims do not
    fit the host budget, is refused before anything changes (PlanLimitError or CapacityError, audited
    as refused). A plan change re-renders every active stack under the new plan's limits and redeploys
    it (running stacks restart; suspended ones are only updated).
    """
    with structlog.contextvars.bound_contextvars(
        operation="tenants.update", operation_id=ctx.operation_id, tenant=slug
    ):
        async with refusals_audited(ctx, "tenants.update", slug):
            tenant = await ctx.store.get_tenant(validate_slug(slug))
            if tenant.status == "deleted":
                raise ConflictError(f"tenant {slug} is deleted", advice="create a new tenant instead")
            changes: dict[str, Any] = {}
            new_plan = (
                get_plan(plan, ctx.settings) if plan is not None else get_plan(tenant.plan, ctx.settings)
            )
            if plan is not None and new_plan.name != tenant.plan:
                changes["plan"] = new_plan.name
            if name is not None and validate_display_name(name) != tenant.name:
                changes["name"] = validate_display_name(name)
            if max_stacks is not None:
                if isinstance(max_stacks, bool) or not 1 <= max_stacks <= 1000:
                    raise InvalidInput("max-stacks", f"must be between 1 and 1000, got {max_stacks}")
                if max_stacks != tenant.max_stacks:
                    changes["max_stacks"] = max_stacks
            if "plan" in changes or "max_stacks" in changes:
                limit = changes.get("max_stacks", tenant.max_stacks)
                _check_fits(ctx, tenant, new_plan, limit, await ctx.store.list_stacks(tenant))
        if not changes:
            return _result(tenant, False, [])
        async with locked(ctx, tenant.slug, f"tenants update {tenant.slug}"):
            if "plan" in changes:
                async with refusals_audited(ctx, "tenants.update", slug, only=TerminalError):
                    await claim_plan(ctx, tenant, new_plan)
            previous = {k: getattr(tenant, k) for k in changes}
            tenant = await ctx.store.update_tenant(tenant, **changes)
            await ctx.store.audit(
                "tenants.updated", tenant=tenant.slug, details={"from": previous, "to": changes}
            )
            log.info("tenants.updated", changes=sorted(changes))
            outcomes = await redeploy_for_plan(ctx, tenant, wait=wait) if "plan" in changes else []
            await ctx.store.flush()
        return _result(tenant, True, outcomes)


async def apply_plan(ctx: Context, tenant: Tenant, *, wait: bool = True) -> list[StackOutcome]:
    """The tenant's recorded plan, applied to stacks deployed under another one (the record was
    changed elsewhere, e.g. in the PocketBase dashboard). PlanLimitError, with nothing changed, when
    the stacks do not fit it."""
    stacks = await ctx.store.list_stacks(tenant)
    if not any(s.active and s.plan != tenant.plan for s in stacks):
        return []
    async with refusals_audited(ctx, "tenants.apply_plan", tenant.slug):
        plan = get_plan(tenant.plan, ctx.settings)
        _check_fits(ctx, tenant, plan, tenant.max_stacks, stacks)
    async with locked(ctx, tenant.slug, f"tenants apply plan {tenant.slug}"):
        async with refusals_audited(ctx, "tenants.apply_plan", tenant.slug, only=TerminalError):
            await claim_plan(ctx, tenant, plan)
        return await redeploy_for_plan(ctx, tenant, wait=wait)


async def redeploy_for_plan(ctx: Context, tenant: Tenant, *, wait: bool) -> list[StackOutcome]:
    """Redeploy every active stack whose compose was rendered under another plan than the tenant's."""
    stacks = [s for s in await ctx.store.list_stacks(tenant) if s.active and s.plan != tenant.plan]
    return await _each(ctx, stacks, "redeploy", lambda s: _redeploy(ctx, tenant, s, wait))


async def _redeploy(ctx: Context, tenant: Tenant, stack: Stack, wait: bool) -> Any:
    request = ProvisionRequest(
        tenant=tenant.slug,
        template=stack.template,
        stack=stack.name,
        wait=wait,
        start=stack.desired_state == "running",
        confirm=True,  # the plan changes limits only; the parameters stay, so no service goes away
    )
    return await provision(ctx, request)


# --- suspend, resume, delete ----------------------------------------------------------------------------


async def suspend_tenant(ctx: Context, slug: str, *, wait: bool = True) -> TenantResult:
    """Suspend the tenant: its record first (intent), then every running stack."""
    return await _tenant_wide(ctx, slug, "suspended", "suspend", wait=wait)


async def resume_tenant(ctx: Context, slug: str, *, wait: bool = True) -> TenantResult:
    """Reactivate the tenant and start again the stacks its suspension stopped."""
    return await _tenant_wide(ctx, slug, "active", "resume", wait=wait)


async def delete_tenant(
    ctx: Context, slug: str, *, delete_volumes: bool = False, wait: bool = True
) -> TenantResult:
    """Delete every stack of the tenant (volumes kept unless ``delete_volumes``), then its project."""
    return await _tenant_wide(ctx, slug, "deleted", "delete", wait=wait, delete_volumes=delete_volumes)


async def _tenant_wide(
    ctx: Context, slug: str, status: str, action: str, *, wait: bool, delete_volumes: bool = False
) -> TenantResult:
    with structlog.contextvars.bound_contextvars(
        operation=f"tenants.{action}", operation_id=ctx.operation_id, tenant=slug
    ):
        async with refusals_audited(ctx, f"tenants.{action}", slug):
            tenant = await ctx.store.get_tenant(validate_slug(slug))
            if tenant.status == "deleted" and action != "delete":
                raise ConflictError(f"tenant {slug} is deleted", advice="create a new tenant instead")
        if (tenant.status or "active") == status and not any(
            _concerns(action, s) for s in await ctx.store.list_stacks(tenant)
        ):
            return _result(tenant, False, [])  # nothing to do: not even the lock is needed
        async with locked(ctx, tenant.slug, f"tenants {action} {tenant.slug}"):
            tenant = await ctx.store.get_tenant(tenant.slug)
            changed = (tenant.status or "active") != status
            if changed:
                tenant = await ctx.store.update_tenant(tenant, status=status)
                await ctx.store.audit(
                    f"tenants.{_past(action)}",
                    tenant=tenant.slug,
                    details={"delete_volumes": delete_volumes} if action == "delete" else None,
                )
                log.info(f"tenants.{_past(action)}")
            stacks = await ctx.store.list_stacks(tenant)
            todo = [s for s in stacks if _concerns(action, s)]

            async def run(stack: Stack) -> Any:
                if action == "suspend":
                    return await suspend(ctx, tenant.slug, stack.name, wait=wait, with_tenant=True)
                if action == "resume":
                    return await resume(ctx, tenant.slug, stack.name, wait=wait)
                return await delete(ctx, tenant.slug, stack.name, delete_volumes=delete_volumes, wait=wait)

            outcomes = await _each(ctx, todo, action, run)
            await ctx.store.flush()
        return _result(tenant, changed or bool(todo), outcomes)


def _concerns(action: str, stack: Stack) -> bool:
    """Whether the tenant-wide ``action`` has something to do for ``stack``."""
    if action == "suspend":
        return stack.desired_state == "running"
    if action == "resume":
        return stack.desired_state == "suspended" and stack.suspended_with_tenant
    return not (stack.status == "deleted" and not stack.coolify_service_uuid)


def _past(action: str) -> str:
    return {"suspend": "suspended", "resume": "resumed", "delete": "deleted"}[action]
