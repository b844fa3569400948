"""The admin pages that read: they show what PocketBase holds (paged and filtered there), escape
everything a tenant or a parameter could carry, and poll a stack's status only while it moves."""

from __future__ import annotations

from typing import Any

import pytest

from functions.operations.provision import ProvisionRequest, provision
from functions.operations.tenants import create_tenant
from shared.pocketbase.client import PocketBase
from tests.admin.conftest import Console, make_console
from tests.fakes.coolify import FakeCoolify
from tests.functions.conftest import BOT_PARAMS, ContextFactory

pytestmark = pytest.mark.anyio

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def _incident(number: int, tenant: str, state: str, **extra: Any) -> dict[str, Any]:
    return {
        "incident_id": f"inc{number}",
        "fingerprint": f"host|{tenant}|bot|cf-{tenant}-bot|oom-killed|{number}",
        "host": "coolify-1",
        "kind": "oom-killed",
        "severity": "critical",
        "state": state,
        "tenant": tenant,
        "stack": "bot",
        "subject": f"cf-{tenant}-bot-{number}",
        "opened_at": f"2026-12-01 10:0{number}:00.000Z",
        "runbook": "https://git.example/runbooks/oom-killed.md",
        **extra,
    }


async def test_tenants_are_searched_filtered_and_paged_with_stack_counts_and_quota(
    make_ctx: ContextFactory, pb: PocketBase, operator: str
) -> None:
    ctx = make_ctx()
    for number in range(7):
        await create_tenant(
            ctx, f"shop-{number}", plan="team" if number % 2 else "starter", name=f"Shop {number}"
        )
    await create_tenant(ctx, "other", plan="business", name="Different")
    await provision(
        ctx, ProvisionRequest(tenant="shop-1", template="telegram-bot", params=BOT_PARAMS, wait=False)
    )

    async with make_console(make_ctx, pb, admin_page_size=5) as console:
        await console.sign_in()
        first = (await console.http.get("/admin/tenants", params={"q": "shop"})).text
        second = (await console.http.get("/admin/tenants", params={"q": "shop", "page": 2})).text
        teams = (await console.http.get("/admin/tenants", params={"plan": "team"})).text
        by_name = (await console.http.get("/admin/tenants", params={"q": "Differ"})).text

    assert "page 1 of 2 (7 in all)" in first and "shop-4" in first and "shop-5" not in first
    assert "shop-5" in second and "shop-6" in second and "other" not in second
    assert 'href="/admin/tenants?page=2&amp;q=shop"' in first
    assert "shop-1" in teams and "shop-0" not in teams and "3 in all" in teams
    assert "<td>1 / 10</td>" in teams  # shop-1: one stack of team's ten
    assert "other" in by_name and "shop-" not in by_name


async def test_the_tenant_page_shows_stacks_audit_and_only_open_incidents(
    signed_in: Console, acme: str, pb: PocketBase
) -> None:
    result = await provision(
        signed_in.ctx, ProvisionRequest(tenant="acme", template="telegram-bot", params=BOT_PARAMS, wait=False)
    )
    stack = next(s for s in await pb.list_records("stacks"))
    await pb.update_record("stacks", stack["id"], {"last_error": "the bot exited: token <rejected>"})
    await pb.create_record("incidents", _incident(1, "acme", "firing", detail="exit 137"))
    await pb.create_record("incidents", _incident(2, "acme", "resolved"))
    await pb.create_record("incidents", _incident(3, "globex", "firing"))

    page = (await signed_in.http.get("/admin/tenants/acme")).text

    assert "telegram-bot" in page and "provisioning" in page and result.service_uuid in page
    assert result.fqdn in page
    assert "the bot exited: token &lt;rejected&gt;" in page
    assert "provision.requested" in page or "provision.started" in page
    assert "cf-acme-bot-1" in page and "exit 137" in page
    assert "cf-acme-bot-2" not in page and "cf-globex-bot-3" not in page
    assert 'href="https://git.example/runbooks/oom-killed.md"' in page


async def test_the_status_cell_polls_only_while_the_stack_is_in_transition(
    signed_in: Console, acme: str, pb: PocketBase
) -> None:
    await provision(
        signed_in.ctx, ProvisionRequest(tenant="acme", template="telegram-bot", params=BOT_PARAMS, wait=False)
    )
    moving = (await signed_in.http.get("/admin/tenants/acme/stacks/bot/status")).text
    stack = next(s for s in await pb.list_records("stacks"))
    await pb.update_record("stacks", stack["id"], {"status": "running", "transition_at": ""})
    settled = (await signed_in.http.get("/admin/tenants/acme/stacks/bot/status")).text

    assert 'hx-trigger="every 2s"' in moving and 'data-status="provisioning"' in moving
    assert "hx-trigger" not in settled and 'data-status="running"' in settled


async def test_the_audit_log_filters_by_tenant_action_outcome_and_time(
    signed_in: Console, acme: str, make_ctx: ContextFactory
) -> None:
    await create_tenant(make_ctx(), "globex", plan="team")
    await signed_in.post("/admin/tenants", {"slug": "Nope!", "plan": "team"})

    by_tenant = (await signed_in.http.get("/admin/audit", params={"tenant": "globex"})).text
    refused = (await signed_in.http.get("/admin/audit", params={"outcome": "refused"})).text
    by_action = (await signed_in.http.get("/admin/audit", params={"action": "signed_in"})).text
    future = (await signed_in.http.get("/admin/audit", params={"since": "2999-01-01T00:00"})).text
    today = (await signed_in.http.get("/admin/audit", params={"until": "2999-01-01"})).text
    bad = await signed_in.http.get("/admin/audit", params={"since": "yesterday"})

    assert "globex" in by_tenant and "<td>acme</td>" not in by_tenant
    assert "tenants.create" in refused and "tenants.created" not in refused
    assert "admin.signed_in" in by_action and "tenants.created" not in by_action
    assert "No events." in future
    assert "tenants.created" in today
    assert bad.status_code == 400 and "2026-12-01T10:30" in bad.text


async def test_the_incidents_page_reads_the_monitors_collection_with_filters(
    signed_in: Console, pb: PocketBase
) -> None:
    await pb.create_record("incidents", _incident(1, "acme", "firing"))
    await pb.create_record(
        "incidents", _incident(2, "globex", "resolved", resolved_at="2026-12-01 11:00:00.000Z")
    )

    everything = (await signed_in.http.get("/admin/incidents")).text
    firing = (await signed_in.http.get("/admin/incidents", params={"state": "firing"})).text

    assert "cf-acme-bot-1" in everything and "cf-globex-bot-2" in everything
    assert "resolved 2026-12-01 11:00:00 UTC" in everything
    assert "cf-acme-bot-1" in firing and "cf-globex-bot-2" not in firing


async def test_hostile_names_and_parameters_are_shown_as_text(
    signed_in: Console, acme: str, pb: PocketBase, make_ctx: ContextFactory
) -> None:
    """A tenant's display name or a stack's last error holding markup is escaped on every page."""
    await create_tenant(make_ctx(), "evil", plan="starter", name="Evil Corp")
    (tenant,) = [t for t in await pb.list_records("tenants") if t["slug"] == "evil"]
    await pb.update_record("tenants", tenant["id"], {"name": HOSTILE, "last_error": HOSTILE})

    pages = [
        (await signed_in.http.get("/admin/tenants")).text,
        (await signed_in.http.get("/admin/tenants/evil")).text,
        (await signed_in.http.get("/admin/tenants", params={"q": HOSTILE})).text,
    ]

    for page in pages:
        assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in pages[1]


async def test_an_unknown_tenant_or_template_says_so(signed_in: Console, acme: str) -> None:
    tenant = await signed_in.http.get("/admin/tenants/nobody")
    template = await signed_in.http.get("/admin/tenants/acme/provision", params={"template": "telegram-bto"})

    assert tenant.status_code == 404 and "does not exist" in tenant.text
    assert template.status_code == 404 and "telegram-bot" in template.text


async def test_the_capacity_page_shows_allocated_budget_and_what_fits(
    make_ctx: ContextFactory, pb: PocketBase, operator: str
) -> None:
    budget = {"default": {"cpus": 2, "memory": "4G", "disk": "10G"}}
    await create_tenant(make_ctx(), "acme", plan="team", name="Acme")
    await provision(
        make_ctx(capacity=budget),
        ProvisionRequest(tenant="acme", template="telegram-bot", stack="bot", params=BOT_PARAMS),
    )

    async with make_console(make_ctx, pb, capacity=budget) as console:
        await console.sign_in()
        page = (await console.http.get("/admin/capacity")).text

    assert "Budgets from CFA_CAPACITY" in page and "cpu x2" in page
    # the team bot's claim, of the budget with its overcommit
    assert "0.5 CPUs / 4 CPUs (2 CPUs x2)" in page and "384.0 MiB / 4.0 GiB" in page
    assert "<td>telegram-bot</td>\n    <td>team</td>" in page
    assert "<td>7</td>" in page  # more team bots: (4 - 0.5) CPUs // 0.5


async def test_a_provision_past_the_budget_is_refused_on_its_form(
    make_ctx: ContextFactory, pb: PocketBase, operator: str, coolify_fake: FakeCoolify
) -> None:
    await create_tenant(make_ctx(), "acme", plan="team", name="Acme")
    tight = {"default": {"cpus": 0.25, "memory": "1G", "disk": "1G"}}
    exact = {"cpu": 1.0, "memory": 1.0, "disk": 1.0}
    form = {
        "template": "telegram-bot",
        "stack_name": "bot",
        "param.telegram_token": BOT_PARAMS["telegram_token"],
        "param.router_api_key": BOT_PARAMS["router_api_key"],
    }

    async with make_console(make_ctx, pb, capacity=tight, capacity_overcommit=exact) as console:
        await console.sign_in()
        response = await console.post("/admin/tenants/acme/provision", form)

    assert response.status_code == 409 and "cpu" in response.text.lower()
    assert await pb.list_records("stacks") == []
    assert coolify_fake.write_calls == []
