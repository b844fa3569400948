"""The capacity guard on the event path: a stack record the budget has no room for is failed once with
the reason (no Coolify write, one alert linking capacity-exceeded, not retried by replays); a tenant
plan change written to its record that does not fit changes nothing and says why on the tenant."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from pydantic import SecretStr

from functions.alerts import Alerter
from functions.events import StackRecordChanged, TenantRecordChanged
from functions.handlers import stack_record_changed, tenant_record_changed
from functions.operations.provision import ProvisionRequest, provision
from functions.operations.tenants import create_tenant
from functions.runtime import Runtime
from shared.catalog import load_catalog
from shared.coolify.client import CoolifyClient
from shared.pocketbase.client import PocketBase
from tests.fakes.coolify import BASE_URL, DEFAULT_TOKEN, FakeCoolify
from tests.functions.conftest import BOT_PARAMS, ContextFactory, make_settings, records
from tests.logs import captured_logs

pytestmark = pytest.mark.anyio

EXACT = {"cpu": 1.0, "memory": 1.0, "disk": 1.0}


def budget(cpus: float, memory: str) -> dict[str, Any]:
    return {"default": {"cpus": cpus, "memory": memory, "disk": "0"}}


RuntimeFactory = Callable[[dict[str, Any]], Runtime]


@pytest.fixture
async def make_runtime(pb: PocketBase, coolify_fake: FakeCoolify) -> AsyncIterator[RuntimeFactory]:
    """What cfa serve's handlers run on, with this budget (no overcommit)."""
    clients: list[CoolifyClient] = []

    def factory(capacity: dict[str, Any]) -> Runtime:
        settings = make_settings(actor="functions", capacity=capacity, capacity_overcommit=EXACT)
        coolify = CoolifyClient(BASE_URL, SecretStr(DEFAULT_TOKEN), transport=coolify_fake.transport())
        clients.append(coolify)
        return Runtime(
            settings=settings,
            pb=pb,
            coolify=coolify,
            catalog=load_catalog(settings.templates_dir),
            alerter=Alerter(settings, retry_for=0),
        )

    yield factory
    for client in clients:
        await client.aclose()


async def stack_record(pb: PocketBase, tenant_id: str, name: str) -> dict[str, Any]:
    return await pb.create_record(
        "stacks",
        {
            "tenant": tenant_id,
            "name": name,
            "template": "telegram-bot",
            "params": dict(BOT_PARAMS),
            "desired_state": "running",
            "status": "pending",
        },
    )


async def test_a_stack_record_without_room_fails_once_with_the_reason(
    make_runtime: RuntimeFactory, make_ctx: ContextFactory, coolify_fake: FakeCoolify, pb: PocketBase
) -> None:
    """Room for one team bot: the second record is failed with the reason, once, without a Coolify
    write; a replay of its event does nothing more."""
    runtime = make_runtime(budget(0.5, "400M"))
    tenant, _ = await create_tenant(make_ctx(), "acme", plan="team")
    first = await stack_record(pb, tenant.id, "one")
    second = await stack_record(pb, tenant.id, "two")
    await stack_record_changed.handle(runtime, StackRecordChanged(stack_id=first["id"], source="api"), 1)
    writes = len(coolify_fake.write_calls)

    with captured_logs() as logs:
        await stack_record_changed.handle(runtime, StackRecordChanged(stack_id=second["id"], source="api"), 1)
        await stack_record_changed.handle(runtime, StackRecordChanged(stack_id=second["id"], source="api"), 1)

    failed = await pb.get_record("stacks", second["id"])
    assert failed["status"] == "failed" and failed["failed_digest"]
    assert failed["last_error"].startswith("no room on server localhost")
    assert "cpu needs 0.5 CPUs, 0 CPUs free of 0.5 CPUs" in failed["last_error"]
    assert failed["reserved"] is None and failed["server_uuid"] == ""
    assert len(coolify_fake.write_calls) == writes
    assert coolify_fake.services_named("cf-acme-two") == []
    alerts = [e for e in logs if e["event"] == "alert.raised"]
    assert [(a["title"], a["runbook"]) for a in alerts] == [
        ("provision of acme/two failed", "capacity-exceeded")
    ]
    actions = [(e["action"], e["outcome"]) for e in await records(pb, "audit_events") if e["stack"] == "two"]
    assert ("provision", "refused") in actions
    assert actions.count(("functions.gave_up", "failed")) == 1


async def test_a_plan_written_to_the_tenant_record_that_does_not_fit_changes_nothing(
    make_runtime: RuntimeFactory, make_ctx: ContextFactory, coolify_fake: FakeCoolify, pb: PocketBase
) -> None:
    """starter → team would claim 384 MiB where 300 MiB is the budget: the tenant's last_error says so,
    one alert links capacity-exceeded, its stack keeps its plan and claim, Coolify sees no write."""
    runtime = make_runtime(budget(1, "300M"))
    tenant, _ = await create_tenant(make_ctx(), "acme", plan="starter")
    request = ProvisionRequest(tenant="acme", template="telegram-bot", stack="bot", params=BOT_PARAMS)
    await provision(make_ctx(capacity=budget(1, "300M")), request)
    writes = len(coolify_fake.write_calls)
    await pb.update_record("tenants", tenant.id, {"plan": "team"})

    with captured_logs() as logs:
        await tenant_record_changed.handle(runtime, TenantRecordChanged(tenant_id=tenant.id, source="api"), 1)

    after = await pb.get_record("tenants", tenant.id)
    assert after["last_error"].startswith("no room on server localhost")
    assert "tenant acme's stacks under plan team: memory needs 384.0 MiB" in after["last_error"]
    (stack,) = await records(pb, "stacks")
    assert (stack["plan"], stack["reserved"]["plan"]) == ("starter", "starter")
    assert len(coolify_fake.write_calls) == writes
    assert [e["runbook"] for e in logs if e["event"] == "alert.raised"] == ["capacity-exceeded"]
