"""Pieces every operation shares: refusal auditing, lock-and-audit for failures, status polling."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from functions.context import Context
from functions.locks import tenant_lock
from shared.errors import CfaError, NotConvergedError
from shared.logging import get_logger

log = get_logger()
T = TypeVar("T")


@contextlib.asynccontextmanager
async def refusals_audited(
    ctx: Context, action: str, tenant: str = "", stack: str = ""
) -> AsyncIterator[None]:
    """Validation block: a CfaError inside it is audited as ``refused`` (the only write it makes)."""
    try:
        yield
    except CfaError as err:
        log.info(f"{action}.refused", reason=err.message, error=err.kind)
        await ctx.store.audit(
            action,
            outcome="refused",
            tenant=tenant,
            stack=stack,
            details={"error": err.kind, "reason": err.message},
        )
        raise


@contextlib.asynccontextmanager
async def locked(ctx: Context, tenant: str) -> AsyncIterator[None]:
    """Hold the tenant lock unless this is a dry run (which writes nothing and needs none)."""
    if ctx.dry_run:
        yield
        return
    async with tenant_lock(ctx.pb, tenant, owner=ctx.operation_id):
        yield


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
