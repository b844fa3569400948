"""The PocketBase client against a real PocketBase: auth, re-login, records, errors."""

from __future__ import annotations

import time

import httpx
import pytest
from pydantic import SecretStr

from shared.errors import AuthError, NotFoundError
from shared.pocketbase.client import PocketBase, RecordValidationError
from shared.pocketbase.embedded import PocketBaseServer
from shared.pocketbase.filters import pb_filter

pytestmark = pytest.mark.anyio


async def test_wrong_password_is_an_auth_error_with_advice(pocketbase: PocketBaseServer) -> None:
    """A refused login raises AuthError naming the settings to check."""
    async with PocketBase(pocketbase.url, pocketbase.email, SecretStr("wrong-password")) as client:
        with pytest.raises(AuthError) as caught:
            await client.list_records("tenants")
    assert "CFA_POCKETBASE_PASSWORD" in caught.value.advice


class CountingTransport(httpx.AsyncHTTPTransport):
    """A real transport that counts the superuser logins it carries."""

    def __init__(self) -> None:
        super().__init__()
        self.logins = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/auth-with-password"):
            self.logins += 1
        return await super().handle_async_request(request)


async def test_relogs_in_before_the_token_expires(pocketbase: PocketBaseServer) -> None:
    """When the clock nears the JWT's exp, the next request logs in again instead of acting as a guest."""
    now = [time.time()]
    transport = CountingTransport()
    async with PocketBase(
        pocketbase.url, pocketbase.email, pocketbase.password, clock=lambda: now[0], transport=transport
    ) as client:
        await client.create_record("tenants", {"slug": "acme", "name": "Acme", "plan": "starter"})
        await client.list_records("tenants")
        logins_while_fresh = transport.logins
        now[0] += 24 * 3600 - 60  # a minute before exp: PocketBase would soon treat us as a guest
        records = await client.list_records("tenants")
    assert (logins_while_fresh, transport.logins) == (1, 2)
    assert [r["slug"] for r in records] == ["acme"]


async def test_relogs_in_once_on_403(pocketbase: PocketBaseServer) -> None:
    """A token PocketBase no longer accepts (403 on write) triggers one fresh login and the retry succeeds."""
    async with PocketBase(pocketbase.url, pocketbase.email, pocketbase.password) as client:
        await client.login()
        client._token = client._token[:-4] + "AAAA" if client._token else None  # an invalid signature
        record = await client.create_record("tenants", {"slug": "beta", "name": "Beta", "plan": "team"})
    assert record["slug"] == "beta"


async def test_unique_violation_is_reported_per_field(pb: PocketBase) -> None:
    """A duplicate slug is a RecordValidationError that says which field is not unique."""
    await pb.create_record("tenants", {"slug": "acme", "name": "Acme", "plan": "starter"})
    with pytest.raises(RecordValidationError) as caught:
        await pb.create_record("tenants", {"slug": "acme", "name": "Other", "plan": "starter"})
    assert caught.value.not_unique
    assert caught.value.field_errors == {"slug": "validation_not_unique"}


async def test_records_round_trip(pb: PocketBase) -> None:
    """Create, get, update, list with a filter, delete."""
    created = await pb.create_record("tenants", {"slug": "acme", "name": "Acme", "plan": "starter"})
    await pb.update_record("tenants", created["id"], {"status": "suspended"})
    fetched = await pb.get_record("tenants", created["id"])
    listed = await pb.list_records("tenants", filter=pb_filter("status = {:s}", s="suspended"))
    await pb.delete_record("tenants", created["id"])
    assert fetched["status"] == "suspended"
    assert [r["id"] for r in listed] == [created["id"]]
    with pytest.raises(NotFoundError):
        await pb.get_record("tenants", created["id"])


async def test_list_pages_through_everything(pb: PocketBase) -> None:
    """list_records follows pages until the last one."""
    for n in range(7):
        await pb.create_record("audit_events", {"actor": "t", "action": f"a{n}", "outcome": "ok"})
    pb_all = await pb.list_records("audit_events", sort="action")
    limited = await pb.list_records("audit_events", sort="action", limit=3)
    assert [r["action"] for r in pb_all] == [f"a{n}" for n in range(7)]
    assert [r["action"] for r in limited] == ["a0", "a1", "a2"]
