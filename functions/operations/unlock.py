"""``cfa unlock``: free a tenant's lock whose holder is provably gone (audited).

Refuses while the holder may be alive (fresh heartbeat, or its process still runs on this host): two
operations on one tenant at once is what the lock exists to prevent. A lock whose holder is gone would
also be taken over by the next operation; unlocking just makes that visible and audited.
"""

from __future__ import annotations

from pydantic import BaseModel

from functions.context import Context
from functions.locks import break_lock
from shared.naming import validate_slug


class UnlockResult(BaseModel):
    tenant: str
    was_locked: bool
    holder: str = ""
    operation: str = ""


async def unlock(ctx: Context, tenant: str) -> UnlockResult:
    slug = validate_slug(tenant)
    await ctx.store.get_tenant(slug)
    held = await break_lock(ctx.pb, slug, stale_after=ctx.settings.lock_stale_seconds)
    if held is None:
        return UnlockResult(tenant=slug, was_locked=False)
    details = {"owner": held.owner, "operation": held.operation, "host": held.host, "pid": held.pid}
    await ctx.store.audit("lock.released_by_operator", tenant=slug, details=details)
    await ctx.store.flush()
    return UnlockResult(tenant=slug, was_locked=True, holder=held.owner, operation=held.operation)
