"""Shared parts of suspend, resume and delete: the shape of an operation on one stack."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from pydantic import BaseModel, Field

from functions.context import Context
from functions.operations.common import locked, refusals_audited
from functions.records import Stack, Tenant
from shared.errors import CfaError, ConflictError
from shared.naming import validate_slug, validate_stack_name


class StackResult(BaseModel):
    tenant: str
    stack: str
    status: str
    desired_state: str
    coolify_status: str = ""
    last_error: str = ""
    kept_volumes: list[str] = Field(default_factory=list)
    dry_run: bool = False
    dry_run_reason: str = ""
    calls: list[dict[str, Any]] = Field(default_factory=list)


@dataclass(frozen=True)
class Target:
    tenant: Tenant
    stack: Stack


async def resolve(ctx: Context, tenant: str, stack: str, *, allow_deleted: bool = False) -> Target:
    """The tenant and stack records; NotFoundError/ConflictError with advice otherwise."""
    record_tenant = await ctx.store.get_tenant(validate_slug(tenant))
    record_stack = await ctx.store.get_stack(record_tenant, validate_stack_name(stack))
    if record_stack.desired_state == "deleted" and record_stack.status == "deleted" and not allow_deleted:
        raise ConflictError(
            f"stack {tenant}/{stack} was deleted",
            advice=f"provision it again: cfa provision {tenant} {record_stack.template} --name {stack}",
        )
    return Target(record_tenant, record_stack)


def result(ctx: Context, target: Target) -> StackResult:
    return StackResult(
        tenant=target.tenant.slug,
        stack=target.stack.name,
        status=target.stack.status,
        desired_state=target.stack.desired_state,
        coolify_status=target.stack.coolify_status,
        last_error=target.stack.last_error,
        kept_volumes=target.stack.kept_volumes or [],
        dry_run=ctx.dry_run,
        dry_run_reason=ctx.dry_run_reason,
        calls=[call.masked() for call in ctx.recorder.calls] if ctx.recorder else [],
    )


async def record_failure(ctx: Context, action: str, target: Target, err: CfaError) -> None:
    """Keep the error on the stack and in the audit trail (best effort: PocketBase may be what failed)."""
    try:
        await ctx.store.update_stack(target.stack, last_error=err.one_line()[:2000])
        await ctx.store.audit(
            f"{action}.failed",
            outcome="failed",
            tenant=target.tenant.slug,
            stack=target.stack.name,
            details={"error": err.kind, "reason": err.message, "retryable": err.retryable},
        )
    except CfaError:
        pass


async def run_on_stack(
    ctx: Context,
    action: str,
    tenant: str,
    stack: str,
    apply: Callable[[Target], Awaitable[Target]],
    *,
    check: Callable[[Target], Awaitable[None] | None] | None = None,
    allow_deleted: bool = False,
) -> StackResult:
    """Resolve and ``check`` (a refusal is audited and changes nothing), then, under the tenant lock,
    resolve and check again (the records may have changed while waiting for it) and ``apply``; a
    failure is kept on the stack and in the audit trail. ``check`` may be a coroutine function."""
    with structlog.contextvars.bound_contextvars(
        operation=action, operation_id=ctx.operation_id, dry_run=ctx.dry_run, tenant=tenant, stack=stack
    ):
        async with refusals_audited(ctx, action, tenant, stack):
            target = await resolve(ctx, tenant, stack, allow_deleted=allow_deleted)
            await _checked(check, target)
        async with locked(ctx, target.tenant.slug, f"{action} {tenant}/{stack}"):
            async with refusals_audited(ctx, action, tenant, stack):
                target = await resolve(ctx, tenant, stack, allow_deleted=allow_deleted)
                await _checked(check, target)
            try:
                target = await apply(target)
            except CfaError as err:
                if not err.details.get("recorded"):  # settle recorded (and audited) it already
                    await record_failure(ctx, action, target, err)
                raise
        return result(ctx, target)


async def _checked(check: Callable[[Target], Awaitable[None] | None] | None, target: Target) -> None:
    outcome = check(target) if check is not None else None
    if outcome is not None:
        await outcome
