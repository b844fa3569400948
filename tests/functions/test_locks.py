"""The per-tenant lock: one operation per tenant across processes; a holder that is provably gone (dead
process on this host, or a stopped heartbeat) is taken over; `cfa unlock` frees only such a lock."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from functions.locks import acquire_tenant_lock, process_started, read_lock, stamp
from functions.operations.common import locked
from functions.operations.provision import ProvisionRequest, provision
from functions.operations.unlock import unlock
from shared.errors import BusyError, ConflictError
from shared.pocketbase.client import PocketBase
from shared.pocketbase.embedded import PocketBaseServer
from tests.fakes.coolify import FakeCoolify
from tests.functions.conftest import BOT_PARAMS, ContextFactory, records
from tests.logs import captured_logs

pytestmark = pytest.mark.anyio


async def planted(pb: PocketBase, tenant: str = "acme", **fields: Any) -> dict[str, Any]:
    """A lock record as another process would have left it."""
    now = datetime.now(UTC)
    data = {
        "key": f"tenant:{tenant}",
        "owner": "other-op",
        "operation": "provision acme/bot (cli:ops)",
        "host": "elsewhere.example",
        "pid": 4242,
        "heartbeat_at": stamp(now),
        "expires_at": stamp(now + timedelta(seconds=60)),
        **fields,
    }
    return await pb.create_record("operation_locks", data)


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


async def test_second_holder_is_busy_and_is_told_who_holds_it(pb: PocketBase) -> None:
    """While one operation holds acme's lock, another gets BusyError naming it; other tenants are free."""
    first = await acquire_tenant_lock(pb, "acme", "op-1", operation="provision acme/bot (cli:ops)")
    with pytest.raises(BusyError, match=r"locked by provision acme/bot \(cli:ops\) \(pid \d+ on ") as caught:
        await acquire_tenant_lock(pb, "acme", "op-2")
    assert "--wait-lock" in caught.value.advice
    other = await acquire_tenant_lock(pb, "globex", "op-3")
    await other.release()
    await first.release()
    again = await acquire_tenant_lock(pb, "acme", "op-4")
    await again.release()
    assert await pb.list_records("operation_locks") == []


async def test_a_lock_from_an_older_release_is_taken_over_once_expired(pb: PocketBase) -> None:
    """A record without heartbeat (older release) counts by its expires_at."""
    stale = stamp(datetime.now(UTC) - timedelta(minutes=1))
    await pb.create_record("operation_locks", {"key": "tenant:acme", "owner": "crashed", "expires_at": stale})
    held = await acquire_tenant_lock(pb, "acme", "op-new")
    assert (await pb.list_records("operation_locks"))[0]["owner"] == "op-new"
    await held.release()


async def test_a_stopped_heartbeat_is_taken_over_and_logged(pb: PocketBase) -> None:
    """A holder on another host whose heartbeat is older than the stale limit is gone."""
    await planted(pb, heartbeat_at=stamp(datetime.now(UTC) - timedelta(seconds=90)))
    with captured_logs() as logs:
        held = await acquire_tenant_lock(pb, "acme", "op-new", stale_after=60)
    takeover = next(e for e in logs if e["event"] == "lock.taken_over")
    assert takeover["previous_owner"] == "other-op" and "heartbeat stopped" in takeover["reason"]
    await held.release()


async def test_a_dead_process_on_this_host_is_taken_over_at_once(pb: PocketBase) -> None:
    """Same host, pid no longer running: taken over although its heartbeat is fresh (a killed cfa)."""
    await planted(pb, host=socket.gethostname(), pid=dead_pid())
    held = await acquire_tenant_lock(pb, "acme", "op-new")
    assert (await pb.list_records("operation_locks"))[0]["owner"] == "op-new"
    await held.release()


async def test_a_live_process_on_this_host_keeps_its_lock(pb: PocketBase) -> None:
    """Same host, pid running with the recorded start time, fresh heartbeat: busy."""
    await planted(pb, host=socket.gethostname(), pid=os.getpid(), pid_started=process_started(os.getpid()))
    with pytest.raises(BusyError):
        await acquire_tenant_lock(pb, "acme", "op-new")


async def test_a_reused_pid_does_not_keep_a_dead_holders_lock(pb: PocketBase) -> None:
    """A running pid whose start time differs from the recorded one is another process."""
    await planted(
        pb, host=socket.gethostname(), pid=os.getpid(), pid_started=process_started(os.getpid()) + 1
    )
    held = await acquire_tenant_lock(pb, "acme", "op-new")
    await held.release()


async def test_wait_lock_waits_for_the_holder_to_finish(pb: PocketBase) -> None:
    """With a wait, a busy lock is polled until the holder releases it, reporting progress."""
    first = await acquire_tenant_lock(pb, "acme", "op-1", operation="suspend acme/bot")
    progress: list[str] = []

    async def finish_soon() -> None:
        await asyncio.sleep(1.2)
        await first.release()

    releasing = asyncio.create_task(finish_soon())
    second = await acquire_tenant_lock(
        pb, "acme", "op-2", wait=30, on_wait=lambda holder, waited: progress.append(holder.operation)
    )
    await releasing
    assert progress and set(progress) == {"suspend acme/bot"}
    await second.release()


async def test_a_held_lock_keeps_its_heartbeat_fresh(pb: PocketBase) -> None:
    """The holder refreshes heartbeat_at every third of the stale limit."""
    held = await acquire_tenant_lock(pb, "acme", "op-1", stale_after=3)
    before = await read_lock(pb, "acme")
    beating = asyncio.create_task(held.keep_alive(on_lost=lambda: None))
    await asyncio.sleep(2.5)
    after = await read_lock(pb, "acme")
    beating.cancel()
    assert before is not None and after is not None and before.heartbeat_at and after.heartbeat_at
    assert after.heartbeat_at > before.heartbeat_at
    await held.release()


async def test_an_operation_that_loses_pocketbase_gives_its_lock_up(
    make_ctx: ContextFactory, pocketbase: PocketBaseServer, pb: PocketBase
) -> None:
    """When the heartbeat cannot be written for too long, the operation is cancelled with BusyError
    (another process may already have taken the tenant over): it does not go on working."""
    ctx = make_ctx(lock_stale_seconds=3)
    with pytest.raises(BusyError, match="lost the lock of tenant acme"):
        async with locked(ctx, "acme", "provision acme/bot"):
            os.kill(pocketbase.pid, 19)  # SIGSTOP: PocketBase stops answering
            try:
                await asyncio.sleep(30)
            finally:
                os.kill(pocketbase.pid, 18)  # SIGCONT


async def test_provision_refuses_while_the_tenant_is_busy(
    make_ctx: ContextFactory, acme: str, pb: PocketBase, coolify_fake: FakeCoolify
) -> None:
    """A provision during another operation on the same tenant fails retryably and touches nothing."""
    await planted(pb)
    with pytest.raises(BusyError) as caught:
        await provision(
            make_ctx(), ProvisionRequest(tenant="acme", template="telegram-bot", params=BOT_PARAMS)
        )
    assert caught.value.retryable
    assert coolify_fake.write_calls == []


async def test_unlock_refuses_a_live_holder_and_frees_a_gone_one(
    make_ctx: ContextFactory, acme: str, pb: PocketBase
) -> None:
    """`cfa unlock` refuses while the holder is alive; frees (and audits) once it is provably gone."""
    record = await planted(pb)
    with pytest.raises(ConflictError, match="still alive"):
        await unlock(make_ctx(), "acme")
    assert await read_lock(pb, "acme") is not None
    await pb.update_record("operation_locks", record["id"], {"host": socket.gethostname(), "pid": dead_pid()})
    result = await unlock(make_ctx(), "acme")
    assert result.was_locked and result.operation == "provision acme/bot (cli:ops)"
    assert await read_lock(pb, "acme") is None
    audit = [e for e in await records(pb, "audit_events") if e["action"] == "lock.released_by_operator"]
    assert audit and audit[0]["details"]["owner"] == "other-op"
    assert not (await unlock(make_ctx(), "acme")).was_locked
