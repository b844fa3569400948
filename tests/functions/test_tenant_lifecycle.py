"""A tenant's lifecycle: plan changes that redeploy (or are refused with nothing changed), suspend and
resume of the whole tenant, delete with its project."""

from __future__ import annotations

import pytest

from functions.operations.delete import delete
from functions.operations.provision import ProvisionRequest, provision
from functions.operations.suspend import suspend
from functions.operations.tenant_lifecycle import delete_tenant, resume_tenant, suspend_tenant, update_tenant
from functions.operations.tenants import create_tenant
from shared.errors import PlanLimitError
from shared.pocketbase.client import PocketBase
from tests.fakes.coolify import FakeCoolify
from tests.functions.conftest import BOT_PARAMS, ROUTER_KEY, ContextFactory, records

pytestmark = pytest.mark.anyio


async def bot(make_ctx: ContextFactory, name: str) -> str:
    result = await provision(
        make_ctx(), ProvisionRequest(tenant="acme", template="telegram-bot", stack=name, params=BOT_PARAMS)
    )
    return result.service_uuid


def compose_of(fake: FakeCoolify, uuid: str) -> str:
    compose = fake.service(uuid).compose
    assert compose is not None
    return compose.text


async def by_name(pb: PocketBase) -> dict[str, dict[str, object]]:
    return {str(s["name"]): s for s in await records(pb, "stacks")}


async def test_a_plan_upgrade_redeploys_every_stack_under_the_new_limits(
    make_ctx: ContextFactory, acme: str, coolify_fake: FakeCoolify, pb: PocketBase
) -> None:
    """starter → team: the record changes, each stack's compose gets team limits and restarts; a
    suspended stack is updated but stays stopped."""
    one, two = await bot(make_ctx, "one"), await bot(make_ctx, "two")
    await suspend(make_ctx(), "acme", "two")
    assert "mem_limit: 256M" in compose_of(coolify_fake, one)
    result = await update_tenant(make_ctx(), "acme", plan="team")
    assert result.changed and result.plan == "team"
    assert {o.stack: o.status for o in result.stacks} == {"one": "running", "two": "suspended"}
    for uuid in (one, two):
        assert "mem_limit: 384M" in compose_of(coolify_fake, uuid) and "cf.plan: team" in compose_of(
            coolify_fake, uuid
        )
    assert coolify_fake.service(one).restarts == 1
    assert coolify_fake.service(two).status == "exited"
    assert (await records(pb, "tenants"))[0]["plan"] == "team"
    assert "tenants.updated" in {e["action"] for e in await records(pb, "audit_events")}
    again = await update_tenant(make_ctx(), "acme", plan="team")
    assert not again.changed and coolify_fake.service(one).restarts == 1


async def test_a_downgrade_that_does_not_fit_changes_nothing(
    make_ctx: ContextFactory, coolify_fake: FakeCoolify, pb: PocketBase
) -> None:
    """team → starter with an llm-workspace (team minimum) and 3 stacks: refused before any write."""
    await create_tenant(make_ctx(), "acme", plan="team")
    for name in ("one", "two"):
        await bot(make_ctx, name)
    await provision(
        make_ctx(),
        ProvisionRequest(
            tenant="acme",
            template="llm-workspace",
            params={"router_api_key": ROUTER_KEY, "admin_email": "ops@example.com"},
        ),
    )
    writes = len(coolify_fake.write_calls)
    with pytest.raises(
        PlanLimitError, match=r"plan starter allows 2 stacks; tenant acme has 3 \(chat, one, two\)"
    ):
        await update_tenant(make_ctx(), "acme", plan="starter")
    assert len(coolify_fake.write_calls) == writes
    await delete(make_ctx(), "acme", "two")
    writes = len(coolify_fake.write_calls)
    with pytest.raises(PlanLimitError, match="chat: template llm-workspace needs plan team"):
        await update_tenant(make_ctx(), "acme", plan="starter", name="Acme AG")
    tenant = (await records(pb, "tenants"))[0]
    assert (tenant["plan"], tenant["name"]) == ("team", "acme")
    assert len(coolify_fake.write_calls) == writes
    refused = [e for e in await records(pb, "audit_events") if e["action"] == "tenants.update"]
    assert [e["outcome"] for e in refused] == ["refused", "refused"]


async def test_suspend_and_resume_the_tenant_bring_back_only_what_it_stopped(
    make_ctx: ContextFactory, acme: str, coolify_fake: FakeCoolify, pb: PocketBase
) -> None:
    """A stack suspended on its own stays suspended when the tenant comes back."""
    one, two = await bot(make_ctx, "one"), await bot(make_ctx, "two")
    await suspend(make_ctx(), "acme", "two")
    result = await suspend_tenant(make_ctx(), "acme")
    assert result.status == "suspended" and [o.stack for o in result.stacks] == ["one"]
    stacks = await by_name(pb)
    assert (stacks["one"]["status"], stacks["one"]["suspended_with_tenant"]) == ("suspended", True)
    assert stacks["two"]["suspended_with_tenant"] is False
    assert coolify_fake.service(one).status == "exited"
    assert not (await suspend_tenant(make_ctx(), "acme")).changed  # a replay does nothing

    result = await resume_tenant(make_ctx(), "acme")
    assert result.status == "active" and [o.stack for o in result.stacks] == ["one"]
    assert coolify_fake.service(one).status == "running:healthy"
    assert coolify_fake.service(two).status == "exited"
    stacks = await by_name(pb)
    assert (stacks["one"]["status"], stacks["two"]["status"]) == ("running", "suspended")


async def test_delete_the_tenant_removes_its_stacks_and_project(
    make_ctx: ContextFactory, acme: str, coolify_fake: FakeCoolify, pb: PocketBase
) -> None:
    """Every stack goes (volumes kept: the flag sent is false), then the emptied project."""
    await bot(make_ctx, "one")
    await bot(make_ctx, "two")
    result = await delete_tenant(make_ctx(), "acme")
    assert result.status == "deleted" and {o.status for o in result.stacks} == {"deleted"}
    assert coolify_fake.state.services == {} and coolify_fake.state.projects == {}
    assert [d.delete_volumes for d in coolify_fake.deletions] == [False, False]
    assert {s["status"] for s in await records(pb, "stacks")} == {"deleted"}
    again = await delete_tenant(make_ctx(), "acme")
    assert not again.changed and again.stacks == []
