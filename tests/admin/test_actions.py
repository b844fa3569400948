"""The admin pages' buttons: each runs the same operation as the CLI as the signed-in operator
(the audit trail names them), queues it without waiting, and a refusal shows on its form with
nothing changed. Secrets typed into a form never come back in a page."""

from __future__ import annotations

from typing import Any

import pytest

from functions.operations.provision import ProvisionRequest, provision
from shared.pocketbase.client import PocketBase
from tests.admin.conftest import OPERATOR, Console
from tests.fakes.coolify import FakeCoolify
from tests.functions.conftest import BOT_PARAMS, ROUTER_KEY, TOKEN

pytestmark = pytest.mark.anyio

ACTOR = f"operator:{OPERATOR}"
BOT_FORM = {
    "template": "telegram-bot",
    "stack_name": "bot",
    "param.telegram_token": TOKEN,
    "param.router_api_key": ROUTER_KEY,
    "param.model": "",
    "param.history_turns": "12",
}


async def _stack(pb: PocketBase, name: str = "bot") -> dict[str, Any]:
    (stack,) = [s for s in await pb.list_records("stacks") if s["name"] == name]
    return stack


async def test_create_tenant_creates_it_as_the_operator(signed_in: Console, pb: PocketBase) -> None:
    response = await signed_in.post("/admin/tenants", {"slug": "globex", "name": "Globex", "plan": "team"})

    assert response.status_code == 303 and response.headers["location"] == "/admin/tenants/globex"
    (tenant,) = await pb.list_records("tenants")
    assert (tenant["slug"], tenant["plan"], tenant["name"]) == ("globex", "team", "Globex")
    assert [e["actor"] for e in await signed_in.audit("tenants.created")] == [ACTOR]
    page = await signed_in.http.get(response.headers["location"])
    assert "Tenant globex created." in page.text


async def test_create_tenant_with_a_bad_slug_says_why_keeps_the_form_and_creates_nothing(
    signed_in: Console, pb: PocketBase
) -> None:
    response = await signed_in.post(
        "/admin/tenants", {"slug": "Bad Slug!", "name": "Kept name", "plan": "team"}
    )

    assert response.status_code == 400
    assert "slug" in response.text and 'value="Kept name"' in response.text
    assert await pb.list_records("tenants") == []
    assert [e["outcome"] for e in await signed_in.audit("tenants.create")] == ["refused"]


async def test_the_provision_form_is_generated_from_the_templates_parameters(
    signed_in: Console, acme: str
) -> None:
    for template in signed_in.ctx.catalog:
        page = await signed_in.http.get("/admin/tenants/acme/provision", params={"template": template.name})
        assert page.status_code == 200
        for spec in template.meta.parameters:
            assert f'name="param.{spec.name}"' in page.text, (template.name, spec.name)
            if spec.secret:
                assert f'id="param.{spec.name}" name="param.{spec.name}" type="password"' in page.text


async def test_provision_through_the_form_queues_the_stack_as_the_operator(
    signed_in: Console, acme: str, pb: PocketBase, coolify_fake: FakeCoolify
) -> None:
    response = await signed_in.post("/admin/tenants/acme/provision", BOT_FORM)

    assert response.status_code == 303 and response.headers["location"] == "/admin/tenants/acme"
    stack = await _stack(pb)
    assert (stack["template"], stack["desired_state"], stack["status"]) == (
        "telegram-bot",
        "running",
        "provisioning",
    )
    assert stack["params"]["history_turns"] == 12
    assert len(coolify_fake.calls_to("POST", r"/services$")) == 1
    actors = {
        e["actor"] for e in await pb.list_records("audit_events") if e["action"].startswith("provision.")
    }
    assert actors == {ACTOR}
    page = await signed_in.http.get("/admin/tenants/acme")
    assert "Provisioning acme/bot was queued" in page.text
    assert 'hx-get="/admin/tenants/acme/stacks/bot/status"' in page.text  # the status updates live
    for secret in (TOKEN, ROUTER_KEY):
        assert secret not in page.text
        assert secret not in str(await pb.list_records("audit_events"))


async def test_a_refused_provision_keeps_the_typed_values_but_never_echoes_a_secret(
    signed_in: Console, acme: str, pb: PocketBase, coolify_fake: FakeCoolify
) -> None:
    form = BOT_FORM | {"param.history_turns": "9999", "param.system_prompt": "Be <b>brief</b>"}
    response = await signed_in.post("/admin/tenants/acme/provision", form)

    assert response.status_code == 400
    assert "history_turns" in response.text
    assert "Be &lt;b&gt;brief&lt;/b&gt;" in response.text  # kept, escaped
    assert TOKEN not in response.text and ROUTER_KEY not in response.text
    assert await pb.list_records("stacks") == []
    assert coolify_fake.write_calls == []


async def test_a_plan_limit_refusal_is_shown_and_changes_nothing(
    signed_in: Console, acme: str, pb: PocketBase, coolify_fake: FakeCoolify
) -> None:
    form = BOT_FORM | {"template": "llm-workspace", "stack_name": "chat"}
    response = await signed_in.post("/admin/tenants/acme/provision", form)

    assert response.status_code == 409 and "needs plan team" in response.text
    assert await pb.list_records("stacks") == []
    assert coolify_fake.write_calls == []


async def test_suspend_and_resume_a_stack(signed_in: Console, acme: str, pb: PocketBase) -> None:
    await signed_in.post("/admin/tenants/acme/provision", BOT_FORM)

    suspended = await signed_in.post("/admin/tenants/acme/stacks/bot/suspend")
    after_suspend = await _stack(pb)
    resumed = await signed_in.post("/admin/tenants/acme/stacks/bot/resume")
    after_resume = await _stack(pb)

    assert suspended.status_code == resumed.status_code == 303
    assert after_suspend["desired_state"] == "suspended"
    assert after_resume["desired_state"] == "running"
    assert [e["actor"] for e in await signed_in.audit("suspend.requested")] == [ACTOR]
    assert [e["actor"] for e in await signed_in.audit("resume.requested")] == [ACTOR]


@pytest.mark.parametrize(
    ("form", "problem"),
    [
        ({"confirm_name": "bo", "volumes": "keep"}, "type the stack"),
        ({"confirm_name": "", "volumes": "keep"}, "type the stack"),
        ({"confirm_name": "bot"}, "volumes are kept or deleted"),
    ],
)
async def test_delete_without_the_typed_confirmation_deletes_nothing(
    signed_in: Console,
    acme: str,
    pb: PocketBase,
    coolify_fake: FakeCoolify,
    form: dict[str, str],
    problem: str,
) -> None:
    await signed_in.post("/admin/tenants/acme/provision", BOT_FORM)
    writes = len(coolify_fake.write_calls)

    response = await signed_in.post("/admin/tenants/acme/stacks/bot/delete", form)

    assert response.status_code == 400 and problem in response.text
    assert (await _stack(pb))["desired_state"] == "running"
    assert len(coolify_fake.write_calls) == writes


@pytest.mark.parametrize(("volumes", "delete_volumes"), [("keep", False), ("delete", True)])
async def test_delete_with_confirmation_queues_the_delete_with_the_chosen_volumes(
    signed_in: Console, acme: str, pb: PocketBase, volumes: str, delete_volumes: bool
) -> None:
    await signed_in.post("/admin/tenants/acme/provision", BOT_FORM)

    response = await signed_in.post(
        "/admin/tenants/acme/stacks/bot/delete", {"confirm_name": "bot", "volumes": volumes}
    )

    assert response.status_code == 303
    stack = await _stack(pb)
    assert (stack["desired_state"], stack["delete_volumes"]) == ("deleted", delete_volumes)
    assert stack["status"] in ("deleting", "deleted")
    assert [e["actor"] for e in await signed_in.audit("delete.requested")] == [ACTOR]


async def test_change_plan_and_suspend_and_resume_the_tenant(
    signed_in: Console, acme: str, pb: PocketBase
) -> None:
    plan = await signed_in.post("/admin/tenants/acme/plan", {"plan": "business"})
    (after_plan,) = await pb.list_records("tenants")
    suspend = await signed_in.post("/admin/tenants/acme/suspend")
    (after_suspend,) = await pb.list_records("tenants")
    resume = await signed_in.post("/admin/tenants/acme/resume")
    (after_resume,) = await pb.list_records("tenants")

    assert plan.status_code == suspend.status_code == resume.status_code == 303
    assert after_plan["plan"] == "business"
    assert (after_suspend["status"], after_resume["status"]) == ("suspended", "active")
    assert [e["actor"] for e in await signed_in.audit("tenants.updated")] == [ACTOR]


async def test_an_unknown_plan_is_refused_with_the_valid_ones(
    signed_in: Console, acme: str, pb: PocketBase
) -> None:
    response = await signed_in.post("/admin/tenants/acme/plan", {"plan": "platinum"})

    assert response.status_code == 400 and "starter, team, business, sovereign" in response.text
    (tenant,) = await pb.list_records("tenants")
    assert tenant["plan"] == "starter"


async def _secrets(pb: PocketBase, stack: str) -> dict[str, str]:
    record = await _stack(pb, stack)
    (stored,) = await pb.list_records("stack_secrets", filter=f"stack = '{record['id']}'")
    values: dict[str, str] = stored["values"]
    return values


async def test_the_rotate_form_lists_generated_secrets_and_secret_parameters(
    signed_in: Console, acme: str
) -> None:
    await provision(
        signed_in.ctx,
        ProvisionRequest(
            tenant="acme", template="openclaw-agent", stack="agent", params={"router_api_key": ROUTER_KEY}
        ),
    )

    page = (await signed_in.http.get("/admin/tenants/acme/stacks/agent/rotate")).text

    assert 'name="only" value="OPENCLAW_GATEWAY_TOKEN"' in page and 'value="OPENCLAW_HOOKS_TOKEN"' in page
    assert 'id="param.router_api_key" name="param.router_api_key" type="password"' in page
    assert ROUTER_KEY not in page


async def test_rotate_chosen_generated_secrets_as_the_operator(
    signed_in: Console, acme: str, pb: PocketBase
) -> None:
    await provision(
        signed_in.ctx,
        ProvisionRequest(
            tenant="acme", template="openclaw-agent", stack="agent", params={"router_api_key": ROUTER_KEY}
        ),
    )
    before = await _secrets(pb, "agent")

    response = await signed_in.post(
        "/admin/tenants/acme/stacks/agent/rotate", {"only": "OPENCLAW_HOOKS_TOKEN"}
    )

    after = await _secrets(pb, "agent")
    assert response.status_code == 303
    assert after["OPENCLAW_HOOKS_TOKEN"] != before["OPENCLAW_HOOKS_TOKEN"]
    assert after["OPENCLAW_GATEWAY_TOKEN"] == before["OPENCLAW_GATEWAY_TOKEN"]
    assert (await _stack(pb, "agent"))["status"] == "rotating"
    assert [e["actor"] for e in await signed_in.audit("rotate.requested")] == [ACTOR]
    page = (await signed_in.http.get("/admin/tenants/acme")).text
    assert "Rotating acme/agent: OPENCLAW_HOOKS_TOKEN." in page
    assert after["OPENCLAW_HOOKS_TOKEN"] not in page


async def test_rotate_replaces_a_tenant_supplied_token_typed_into_the_form(
    signed_in: Console, acme: str, pb: PocketBase
) -> None:
    await provision(
        signed_in.ctx, ProvisionRequest(tenant="acme", template="telegram-bot", params=BOT_PARAMS)
    )
    new_token = "987654321:AAnewtokennewtokennewtokennewtoken1"

    response = await signed_in.post(
        "/admin/tenants/acme/stacks/bot/rotate", {"param.telegram_token": new_token}
    )

    assert response.status_code == 303
    assert (await _secrets(pb, "bot"))["TELEGRAM_BOT_TOKEN"] == new_token
    assert new_token not in (await signed_in.http.get("/admin/tenants/acme")).text


@pytest.mark.parametrize(
    ("form", "status", "says"),
    [
        ({}, 400, "nothing chosen"),
        ({"param.telegram_token": "not-a-token"}, 400, "expected format"),
    ],
)
async def test_a_refused_rotation_changes_nothing_and_never_echoes_the_value(
    signed_in: Console, acme: str, pb: PocketBase, form: dict[str, str], status: int, says: str
) -> None:
    await provision(
        signed_in.ctx, ProvisionRequest(tenant="acme", template="telegram-bot", params=BOT_PARAMS)
    )
    before = await _secrets(pb, "bot")

    response = await signed_in.post("/admin/tenants/acme/stacks/bot/rotate", form)

    assert response.status_code == status and says in response.text
    assert "not-a-token" not in response.text
    assert await _secrets(pb, "bot") == before
