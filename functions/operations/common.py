"""Pieces every operation shares: refusal auditing, lock-and-audit for failures, status polling."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from functions.context import Context
from functions.locks import acquire_tenant_lock, release_tenant_lock
from shared.coolify.models import ServiceStatus
from shared.errors import CfaError, NotConvergedError
from shared.logging import get_logger
from shared.naming import is_valid_name

log = get_logger()
T = TypeVar("T")


def _name_or_blank(value: str | None) -> str:
    return value if value and is_valid_name(value) else ""


@contextlib.asynccontextmanager
async def refusals_audited(
    ctx: Context, action: str, tenant: str | None = None, stack: str | None = None
) -> AsyncIterator[None]:
    """Validation block: a CfaError inside it is audited as ``refused`` (the only write it makes).

    Only well-formed names go into the audit's tenant/stack fields; raw input is kept, truncated and
    quoted, in the details.
    """
    try:
        yield
    except CfaError as err:
        log.info(f"{action}.refused", reason=err.message, error=err.kind)
        details: dict[str, str] = {"error": err.kind, "reason": err.message[:500]}
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
async def locked(ctx: Context, tenant: str) -> AsyncIterator[None]:
    """Hold the tenant lock (unless this is a dry run, which writes nothing); on the way out, release
    it while the operation's audit events are flushed."""
    lock_id = None if ctx.dry_run else await acquire_tenant_lock(ctx.pb, tenant, owner=ctx.operation_id)
    try:
        yield
    except BaseException:
        with contextlib.suppress(Exception):
            await asyncio.gather(_release(ctx, lock_id), ctx.store.flush())
        raise
    await asyncio.gather(_release(ctx, lock_id), ctx.store.flush())


async def _release(ctx: Context, lock_id: str | None) -> None:
    if lock_id is not None:
        await release_tenant_lock(ctx.pb, lock_id)


async def wait_until(
    ctx: Context,
    probe: Callable[[], Awaitable[T | None]],
    *,
    within: float,
    what: str,
    advice: str,
) -> T:
    """Call ``probe`` every poll interval until it returns a value; NotConvergedError after ``within`` s."""
    deadline = ctx.clock() + within
    while True:
        result = await probe()
        if result is not None:
            return result
        if ctx.clock() >= deadline:
            raise NotConvergedError(f"{what} did not happen within {within:.0f}s", advice=advice)
        await ctx.sleep(ctx.settings.poll_interval_seconds)


async def wait_for_service(
    ctx: Context,
    uuid: str,
    reached: Callable[[ServiceStatus], bool],
    *,
    what: str,
    advice: str,
) -> ServiceStatus:
    """Poll the service until ``reached(status)``; NotConvergedError (with ``details["last_status"]``)
    after CFA_PROVISION_WAIT_SECONDS."""
    last = ServiceStatus.parse(None)

    async def probe() -> ServiceStatus | None:
        nonlocal last
        last = (await ctx.coolify.get_service(uuid)).parsed_status
        return last if reached(last) else None

    try:
        return await wait_until(
            ctx, probe, within=ctx.settings.provision_wait_seconds, what=what, advice=advice
        )
    except NotConvergedError as err:
        err.details["last_status"] = last.raw
        raise
