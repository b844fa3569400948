"""A per-tenant lock shared by every process, held in PocketBase.

Taking the lock creates an ``operation_locks`` record whose ``key`` is unique: PocketBase lets only one
create succeed, so two ``cfa`` processes (or a CLI and the event functions) never work on the same
tenant at once. The record names its holder (operation, host, pid and the pid's start time) and the
holder refreshes ``heartbeat_at`` every third of ``stale_after`` seconds.

A lock whose holder is provably gone is taken over (and the takeover audited by the caller's log):
its heartbeat stopped more than ``stale_after`` seconds ago, or it was taken on this host by a process
that no longer runs. A holder that cannot refresh its heartbeat for that long (PocketBase down) gives
the lock up: :class:`HeldLock` then reports ``lost`` and the operation is cancelled, so that nobody
works on a tenant whose lock another process may already have taken over.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from shared.errors import BusyError, CfaError, ConflictError
from shared.logging import get_logger
from shared.pocketbase.client import PocketBase, RecordValidationError
from shared.pocketbase.filters import pb_datetime, pb_filter

log = get_logger()

DEFAULT_STALE_AFTER = 60.0


def stamp(moment: datetime) -> str:
    return pb_datetime(moment)


def parse_stamp(value: str) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def lock_key(tenant: str) -> str:
    return f"tenant:{tenant}"


def process_started(pid: int) -> int:
    """The process's start time in clock ticks since boot (0 when unknown): tells a reused pid apart."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[19])
    except (OSError, IndexError, ValueError):
        return 0


def _pid_alive(pid: int, started: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, owned by someone else
    return not started or process_started(pid) in (0, started)


@dataclass(frozen=True)
class LockHolder:
    """Who holds a tenant's lock, as its record says."""

    record_id: str
    tenant: str
    owner: str
    operation: str
    host: str
    pid: int
    pid_started: int
    heartbeat_at: datetime | None
    expires_at: datetime | None

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> LockHolder:
        return cls(
            record_id=str(record["id"]),
            tenant=str(record.get("key", "")).split(":", 1)[-1],
            owner=str(record.get("owner", "")),
            operation=str(record.get("operation") or ""),
            host=str(record.get("host") or ""),
            pid=int(record.get("pid") or 0),
            pid_started=int(record.get("pid_started") or 0),
            heartbeat_at=parse_stamp(str(record.get("heartbeat_at") or "")),
            expires_at=parse_stamp(str(record.get("expires_at") or "")),
        )

    def gone(self, now: datetime, stale_after: float) -> str:
        """Why the holder is provably gone, or "" while it may be alive."""
        if self.heartbeat_at is not None:
            silent = (now - self.heartbeat_at).total_seconds()
            if silent > stale_after:
                return f"its heartbeat stopped {silent:.0f}s ago"
        elif self.expires_at is not None and self.expires_at < now:
            return "it expired"  # a lock taken by an older release (no heartbeat)
        if (
            self.host
            and self.host == socket.gethostname()
            and self.pid
            and not _pid_alive(self.pid, self.pid_started)
        ):
            return f"process {self.pid} on this host is gone"
        return ""

    def describe(self, now: datetime) -> str:
        who = self.operation or f"operation {self.owner}"
        where = f"pid {self.pid} on {self.host}" if self.host else "an unknown process"
        beat = (
            f", heartbeat {(now - self.heartbeat_at).total_seconds():.0f}s ago" if self.heartbeat_at else ""
        )
        return f"{who} ({where}{beat})"


class HeldLock:
    """A lock this process holds: refresh it with :meth:`keep_alive`, give it back with :meth:`release`."""

    def __init__(self, pb: PocketBase, record_id: str, tenant: str, stale_after: float) -> None:
        self.pb = pb
        self.record_id = record_id
        self.tenant = tenant
        self.stale_after = stale_after
        self.lost = False
        self._last_beat = time.monotonic()

    async def keep_alive(self, on_lost: Callable[[], object]) -> None:
        """Refresh the heartbeat until cancelled; call ``on_lost`` once it could not for too long."""
        interval = self.stale_after / 3
        while True:
            await asyncio.sleep(interval)
            now = datetime.now(UTC)
            try:
                await self.pb.update_record(
                    "operation_locks",
                    self.record_id,
                    {
                        "heartbeat_at": stamp(now),
                        "expires_at": stamp(now + timedelta(seconds=self.stale_after)),
                    },
                )
                self._last_beat = time.monotonic()
            except CfaError as err:
                silent = time.monotonic() - self._last_beat
                log.warning(
                    "lock.heartbeat_failed", tenant=self.tenant, error=err.kind, silent_seconds=round(silent)
                )
                # Give up before anyone else may call us gone (one interval of margin).
                if silent >= self.stale_after - interval:
                    self.lost = True
                    log.error("lock.lost", tenant=self.tenant)
                    on_lost()
                    return

    async def release(self) -> None:
        if not self.lost:
            await self.pb.delete_record("operation_locks", self.record_id)

    @contextlib.asynccontextmanager
    async def kept(self, lost: str) -> AsyncIterator[None]:
        """Keep the lock for the block with a heartbeat, then release it (best effort). If it cannot be
        kept (PocketBase unreachable for ``stale_after``), the block is cancelled and BusyError(``lost``)
        raised: another process may take the lock over from then on."""
        task = asyncio.current_task()
        assert task is not None
        heartbeat = asyncio.create_task(self.keep_alive(on_lost=task.cancel))
        try:
            yield
        except asyncio.CancelledError:
            if not self.lost:
                raise
            task.uncancel()
            raise BusyError(
                lost, advice="check PocketBase, then re-run the same command (it is safe)"
            ) from None
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            with contextlib.suppress(Exception):
                await self.release()


async def acquire_tenant_lock(
    pb: PocketBase,
    tenant: str,
    owner: str,
    *,
    operation: str = "",
    stale_after: float = DEFAULT_STALE_AFTER,
    wait: float = 0.0,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    on_wait: Callable[[LockHolder, float], None] | None = None,
) -> HeldLock:
    """Take the lock for ``tenant``. A live holder means BusyError, unless ``wait`` seconds are given:
    then poll until it is free (``on_wait(holder, waited)`` reports progress) or the time is up."""
    return await acquire_lock(
        pb,
        lock_key(tenant),
        owner,
        what=f"tenant {tenant}",
        advice="wait for it to finish, or re-run with --wait-lock SECONDS; "
        f"if its process is gone, `cfa unlock {tenant}` frees it",
        operation=operation,
        stale_after=stale_after,
        wait=wait,
        sleep=sleep,
        on_wait=on_wait,
    )


async def acquire_lock(
    pb: PocketBase,
    key: str,
    owner: str,
    *,
    what: str,
    advice: str,
    operation: str = "",
    stale_after: float = DEFAULT_STALE_AFTER,
    wait: float = 0.0,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    on_wait: Callable[[LockHolder, float], None] | None = None,
) -> HeldLock:
    """Take the lock called ``key`` (``what`` names it in messages; ``advice`` is the BusyError's), with
    the semantics of :func:`acquire_tenant_lock`."""
    started = time.monotonic()
    delay = 0.5
    while True:
        holder = await _try_acquire(pb, key, what, owner, operation, stale_after)
        if isinstance(holder, HeldLock):
            return holder
        waited = time.monotonic() - started
        if waited >= wait:
            now = datetime.now(UTC)
            raise BusyError(
                f"{what} is locked by {holder.describe(now)}",
                advice=advice,
                details={"holder": holder.owner, "operation": holder.operation},
            )
        if on_wait is not None:
            on_wait(holder, waited)
        await sleep(min(delay, max(0.0, wait - waited)))
        delay = min(delay * 2, 5.0)


async def _try_acquire(
    pb: PocketBase, key: str, what: str, owner: str, operation: str, stale_after: float
) -> HeldLock | LockHolder:
    name = key.split(":", 1)[-1]
    for _ in range(3):
        now = datetime.now(UTC)
        data = {
            "key": key,
            "owner": owner,
            "operation": operation[:200],
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "pid_started": process_started(os.getpid()),
            "heartbeat_at": stamp(now),
            "expires_at": stamp(now + timedelta(seconds=stale_after)),
        }
        try:
            record = await pb.create_record("operation_locks", data)
            return HeldLock(pb, str(record["id"]), name, stale_after)
        except RecordValidationError as err:
            if not err.not_unique:
                raise
        held = await _read(pb, key)
        if held is None:
            continue  # released between our create and our read: try again
        reason = held.gone(datetime.now(UTC), stale_after)
        if not reason:
            return held
        log.warning(
            "lock.taken_over",
            tenant=name,
            reason=reason,
            previous_owner=held.owner,
            previous=held.operation,
        )
        await pb.delete_record("operation_locks", held.record_id)
    raise BusyError(f"could not take the lock of {what}", advice="re-run in a moment")


async def read_lock(pb: PocketBase, tenant: str) -> LockHolder | None:
    return await _read(pb, lock_key(tenant))


async def _read(pb: PocketBase, key: str) -> LockHolder | None:
    record = await pb.first("operation_locks", pb_filter("key = {:key}", key=key))
    return LockHolder.from_record(record) if record else None


async def break_lock(
    pb: PocketBase, tenant: str, *, stale_after: float = DEFAULT_STALE_AFTER
) -> LockHolder | None:
    """Remove the lock of ``tenant`` if its holder is provably gone; None when it was not locked.

    ConflictError while the holder may be alive (its heartbeat is fresh, or its process runs here).
    """
    held = await read_lock(pb, tenant)
    if held is None:
        return None
    now = datetime.now(UTC)
    if not held.gone(now, stale_after):
        raise ConflictError(
            f"tenant {tenant} is locked by {held.describe(now)}, which is still alive",
            advice="wait for it to finish, or stop that process first; "
            f"a holder whose heartbeat stops is given up after {stale_after:.0f}s",
        )
    await pb.delete_record("operation_locks", held.record_id)
    return held
