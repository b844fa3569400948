"""Dry runs: every Coolify call is shown with secrets masked, and nothing is sent or stored."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from functions.context import open_context
from functions.operations.provision import ProvisionRequest, provision
from functions.operations.tenants import create_tenant
from shared.pocketbase.client import PocketBase
from tests.fakes.coolify import FakeCoolify
from tests.functions.conftest import BOT_PARAMS, ROUTER_KEY, TOKEN, ContextFactory, make_settings

pytestmark = pytest.mark.anyio

REQUEST = ProvisionRequest(tenant="acme", template="telegram-bot", stack="bot", params=BOT_PARAMS)


async def snapshot(pb: PocketBase) -> dict[str, list[dict[str, object]]]:
    names = ("tenants", "stacks", "stack_secrets", "audit_events", "operation_locks")
    return {name: await pb.list_records(name, sort="id") for name in names}


@pytest.fixture
async def forwarding_transport(coolify_fake: FakeCoolify) -> AsyncIterator[httpx.AsyncBaseTransport]:
    yield coolify_fake.transport()


async def test_dry_run_against_a_real_coolify_reads_but_never_writes(
    acme: str, pb: PocketBase, coolify_fake: FakeCoolify, forwarding_transport: httpx.AsyncBaseTransport
) -> None:
    """--dry-run with Coolify set: reads reach Coolify, writes are only listed, PocketBase is untouched."""
    settings = make_settings()
    before = await snapshot(pb)
    async with open_context(
        settings, dry_run=True, changes_coolify=True, pb=pb, coolify_transport=forwarding_transport
    ) as ctx:
        result = await provision(ctx, REQUEST)
    assert result.dry_run and result.dry_run_reason == "--dry-run"
    assert coolify_fake.write_calls == []
    assert [c.method for c in coolify_fake.calls] and all(c.method == "GET" for c in coolify_fake.calls)
    assert await snapshot(pb) == before
    planned = [(c["method"], c["path"], c["sent"]) for c in result.calls]
    assert ("POST", "/projects", False) in planned and ("POST", "/services", False) in planned
    assert ("GET", "/projects", True) in planned
    shown = json.dumps(result.calls)
    assert TOKEN not in shown and ROUTER_KEY not in shown and "***" in shown
    assert "cf.tenant: acme" in result.compose_yaml


async def test_without_a_coolify_url_everything_is_a_dry_run(acme: str, pb: PocketBase) -> None:
    """No CFA_COOLIFY_URL: provision plans against an empty Coolify and says why it did not act."""
    settings = make_settings(coolify_url=None, coolify_token=None)
    before = await snapshot(pb)
    async with open_context(settings, changes_coolify=True, pb=pb) as ctx:
        result = await provision(ctx, REQUEST)
    assert (result.dry_run, result.dry_run_reason) == (True, "CFA_COOLIFY_URL is not set")
    assert [c["sent"] for c in result.calls] == [False] * len(result.calls)
    assert await snapshot(pb) == before


async def test_reads_only_commands_still_write_pocketbase_without_coolify(pb: PocketBase) -> None:
    """Without Coolify, commands that do not change Coolify (tenants create) write normally."""
    settings = make_settings(coolify_url=None, coolify_token=None)
    async with open_context(settings, pb=pb) as ctx:
        tenant, created = await create_tenant(ctx, "globex", plan="team", name="Globex")
    assert created and tenant.id != "dry-run"
    assert [t["slug"] for t in await pb.list_records("tenants")] == ["globex"]


async def test_dry_run_of_an_existing_stack_shows_only_whats_needed(
    make_ctx: ContextFactory,
    acme: str,
    coolify_fake: FakeCoolify,
    forwarding_transport: httpx.AsyncBaseTransport,
    pb: PocketBase,
) -> None:
    """A dry run after a real provision with a changed parameter plans a compose PATCH and a restart only."""
    await provision(make_ctx(), REQUEST)
    writes = len(coolify_fake.write_calls)
    changed = REQUEST.model_copy(update={"params": {"model": "gpt-4.1"}})
    async with open_context(
        make_settings(), dry_run=True, changes_coolify=True, pb=pb, coolify_transport=forwarding_transport
    ) as ctx:
        result = await provision(ctx, changed)
    planned_writes = [(c["method"], c["path"].split("/")[-1]) for c in result.calls if c["method"] != "GET"]
    assert len(coolify_fake.write_calls) == writes
    assert [m for m, _ in planned_writes] == ["PATCH", "POST"]
    assert planned_writes[1][1] == "restart"
