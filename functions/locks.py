"""A per-tenant lock shared by every process, held in PocketBase.

Taking the lock creates an ``operation_locks`` record whose ``key`` is unique: PocketBase lets only one
create succeed, so two ``cfa`` processes (or a CLI and the event handler) never work on the same tenant
at once. A lock whose holder crashed expires after ``ttl`` seconds and is then taken over.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from shared.errors import BusyError
from shared.logging import get_logger
from shared.pocketbase.client import PocketBase, RecordValidationError
from shared.pocketbase.filters import pb_filter

log = get_logger()


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"


@contextlib.asynccontextmanager
async def tenant_lock(pb: PocketBase, tenant: str, owner: str, *, ttl: float = 900.0) -> AsyncIterator[None]:
    """Hold the lock for ``tenant`` for the duration of the block; BusyError if someone else holds it."""
    record_id = await acquire_tenant_lock(pb, tenant, owner, ttl=ttl)
    try:
        yield
    finally:
        await release_tenant_lock(pb, record_id)


async def acquire_tenant_lock(pb: PocketBase, tenant: str, owner: str, *, ttl: float = 900.0) -> str:
    """Take the lock for ``tenant``; returns the lock record's id. BusyError if someone else holds it."""
    return await _acquire(pb, f"tenant:{tenant}", owner, ttl)


async def release_tenant_lock(pb: PocketBase, record_id: str) -> None:
    await pb.delete_record("operation_locks", record_id)


async def _acquire(pb: PocketBase, key: str, owner: str, ttl: float) -> str:
    for _ in range(2):
        expires = _stamp(datetime.now(UTC) + timedelta(seconds=ttl))
        try:
            record = await pb.create_record(
                "operation_locks", {"key": key, "owner": owner, "expires_at": expires}
            )
            return str(record["id"])
        except RecordValidationError as err:
            if not err.not_unique:
                raise
        held = await pb.first("operation_locks", pb_filter("key = {:key}", key=key))
        if held is None:
            continue  # released between our create and our read: try again
        if str(held.get("expires_at", "")) < _stamp(datetime.now(UTC)):
            log.warning("lock.expired_taken_over", key=key, previous_owner=held.get("owner"))
            await pb.delete_record("operation_locks", str(held["id"]))
            continue
        raise BusyError(
            f"another operation on {key.split(':', 1)[1]} is running (operation {held.get('owner')}, "
            f"lock expires {held.get('expires_at')})",
            advice="wait for it to finish, then re-run",
        )
    raise BusyError(f"could not take the lock {key}", advice="re-run in a moment")
