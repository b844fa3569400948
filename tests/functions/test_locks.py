"""The per-tenant lock: one operation per tenant across processes; crashed holders expire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from functions.locks import tenant_lock
from functions.operations.provision import ProvisionRequest, provision
from shared.errors import BusyError
from shared.pocketbase.client import PocketBase
from tests.fakes.coolify import FakeCoolify
from tests.functions.conftest import BOT_PARAMS, ContextFactory

pytestmark = pytest.mark.anyio


async def test_second_holder_is_busy(pb: PocketBase) -> None:
    """While one operation holds acme's lock, another gets BusyError naming the holder."""
    async with tenant_lock(pb, "acme", "op-1"):
        with pytest.raises(BusyError, match="op-1"):
            async with tenant_lock(pb, "acme", "op-2"):
                pass
        async with tenant_lock(pb, "globex", "op-3"):
            pass
    async with tenant_lock(pb, "acme", "op-4"):
        pass
    assert await pb.list_records("operation_locks") == []


async def test_expired_lock_is_taken_over(pb: PocketBase) -> None:
    """A lock left by a crashed process is taken over once it has expired."""
    stale = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%d %H:%M:%S.000Z")
    await pb.create_record("operation_locks", {"key": "tenant:acme", "owner": "crashed", "expires_at": stale})
    async with tenant_lock(pb, "acme", "op-new"):
        (held,) = await pb.list_records("operation_locks")
        assert held["owner"] == "op-new"


async def test_provision_refuses_while_the_tenant_is_busy(
    make_ctx: ContextFactory, acme: str, pb: PocketBase, coolify_fake: FakeCoolify
) -> None:
    """A provision during another operation on the same tenant fails retryably and touches nothing."""
    async with tenant_lock(pb, "acme", "someone-else"):
        with pytest.raises(BusyError) as caught:
            await provision(
                make_ctx(), ProvisionRequest(tenant="acme", template="telegram-bot", params=BOT_PARAMS)
            )
    assert caught.value.retryable
    assert coolify_fake.write_calls == []
