"""Pieces every operation shares: refusal auditing, the tenant lock, waiting for Coolify to settle."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextvars import ContextVar
from typing import Any

from functions.context import Context
from functions.locks import acquire_tenant_lock
from functions.operations.settle import TRANSITIONS, deadline_seconds, decide, settle
from functions.records import Stack, Tenant
from shared.coolify.models import ServiceStatus
from shared.errors import CfaError, NotConvergedError, NotFoundError, StackFailedError
from shared.logging import get_logger
from shared.naming import is_valid_name

log = get_logger()

# Tenants whose lock this task (and what it awaits) already holds: a tenant-wide operation holds it
# once and runs the per-stack operations inside.
_HELD: ContextVar[frozenset[str]] = ContextVar("held_tenant_locks", default=frozenset())


def _name_or_blank(value: str | None) -> str:
    return value if value and is_valid_name(value) else ""


@contextlib.asynccontextmanager
async def refusals_audited(
    ctx: Context,
    action: str,
    tenant: str | None = None,
    stack: str | None = None,
    *,
    only: type[CfaError] = CfaError,
) -> AsyncIterator[None]:
    """Validation block: a CfaError inside it (an ``only`` one) is audited as ``refused`` (the only write
    it makes).

    Only well-formed names go into the audit's tenant/stack fields; raw input is kept, truncated and
    quoted, in the details.
    """
    try:
        yield
    except only as err:
        log.info(f"{action}.refused", reason=err.message, error=err.kind)
        details: dict[str, Any] = {"error": err.kind, "reason": err.message[:500], **err.audit_details()}
        for key, raw in (("input_tenant", tenant), ("input_stack", stack)):
            if raw and not _name_or_blank(raw):
                details[key] = repr(raw[:60])
        await ctx.store.audit(
            action,
            outcome="refused",
            tenant=_name_or_blank(tenant),
            stack=_name_or_blank(stack),
            details=details,
        )
        await ctx.store.flush()
        raise


@contextlib.asynccontextmanager
async def locked(ctx: Context, tenant: str, operation: str) -> AsyncIterator[None]:
    """Hold the tenant lock (unless this is a dry run, which writes nothing), refreshing its heartbeat;
    on the way out, release it while the operation's audit events are flushed.

    Re-entrant within one task. Waits up to ``ctx.lock_wait`` seconds for a busy lock. If the
    heartbeat cannot be written for too long (PocketBase down), the lock counts as lost: the block is
    cancelled and BusyError raised.
    """
    if ctx.dry_run or tenant in _HELD.get():
        yield
        return
    async with ctx.local_locks.setdefault(tenant, asyncio.Lock()), _pocketbase_lock(ctx, tenant, operation):
        yield


@contextlib.asynccontextmanager
async def _pocketbase_lock(ctx: Context, tenant: str, operation: str) -> AsyncIterator[None]:
    lock = await acquire_tenant_lock(
        ctx.pb,
        tenant,
        owner=ctx.operation_id,
        operation=f"{operation} ({ctx.settings.actor})",
        stale_after=ctx.settings.lock_stale_seconds,
        wait=ctx.lock_wait,
        on_wait=lambda holder, waited: ctx.progress.waiting_for_lock(tenant, holder, waited),
    )
    async with lock.kept(f"lost the lock of tenant {tenant}: PocketBase could not be reached to keep it"):
        held = _HELD.set(_HELD.get() | {tenant})
        try:
            yield
        finally:
            _HELD.reset(held)
            # The operation's audit events reach PocketBase before another may take the tenant.
            with contextlib.suppress(Exception):
                await ctx.store.flush()


async def observe(ctx: Context, service_uuid: str) -> ServiceStatus | None:
    """Coolify's status of the service now; None when Coolify (a verified Coolify API) has no such one."""
    try:
        return (await ctx.coolify.get_service(service_uuid)).parsed_status
    except NotFoundError:
        return None


async def await_settled(ctx: Context, tenant: Tenant, stack: Stack) -> Stack:
    """Poll Coolify until the stack's transition ends or its deadline passes, then settle it.

    The stack must be in a transitional status (its work was just queued). Progress is reported
    through ``ctx.progress``; the deadline counts from now.
    """
    action = TRANSITIONS[stack.status]
    deadline = deadline_seconds(ctx, action)
    started = ctx.clock()
    seen_starting = False
    while True:
        seen = await observe(ctx, stack.coolify_service_uuid)
        if seen is not None and seen.state in ("starting", "restarting"):
            seen_starting = True
        elapsed = ctx.clock() - started
        verdict = decide(stack, seen, elapsed=elapsed, deadline=deadline, seen_starting=seen_starting)
        if verdict.done or elapsed >= deadline:
            ctx.progress.done()
            return await settle(ctx, tenant, stack, seen, elapsed=elapsed, seen_starting=seen_starting)
        ctx.progress.waiting_for_coolify(
            f"{tenant.slug}/{stack.name}", seen.raw if seen else "gone", elapsed, deadline
        )
        await ctx.sleep(ctx.settings.poll_interval_seconds)


async def join_in_flight(
    ctx: Context, tenant: Tenant, stack: Stack, action: str, *, wait: bool
) -> Stack | None:
    """When ``action`` (suspend, resume) is already queued in Coolify — the stack is in its transitional
    status toward the same desired state (a replayed event, a second click) — wait on that one (with
    ``wait``) and return the stack; None when it is not in flight. Never asks Coolify again: a request
    Coolify dropped fails at the transition's deadline and can then be re-run."""
    transitional = {"suspend": "suspending", "resume": "resuming"}[action]
    desired = {"suspend": "suspended", "resume": "running"}[action]
    if (stack.status, stack.desired_state) != (transitional, desired):
        return None
    log.info(f"{action}.already_in_flight", transition_at=stack.transition_at)
    if not wait or ctx.dry_run:
        return stack
    settled = await await_settled(ctx, tenant, stack)
    raise_unless(settled, desired, retry=f"re-run cfa {action} {tenant.slug}/{stack.name}")
    return settled


def raise_unless(stack: Stack, wanted: str, *, retry: str) -> None:
    """Raise what the settled ``stack`` means when it is not in the ``wanted`` status.

    ``failed`` → StackFailedError (the stack itself failed); anything else (still transitional,
    degraded, running instead of suspended) → NotConvergedError, with ``retry`` as the advice. Both
    carry ``details["recorded"]``: the stack and the audit trail already say it (``settle``).
    """
    if stack.status == wanted:
        return
    reason = stack.last_error or f"the stack is {stack.status}"
    if stack.status == "failed":
        raise StackFailedError(
            f"{stack.name}: {reason}",
            advice="fix the cause, then re-run; the audit trail and the stack's last_error have the details",
            details={"status": stack.status, "recorded": True},
        )
    raise NotConvergedError(
        f"{stack.name}: {reason}", advice=retry, details={"status": stack.status, "recorded": True}
    )
