"""A tenant record in PocketBase becomes running stacks by itself: `cfa serve` as a subprocess, a real
PocketBase and the fake Coolify, driven only through PocketBase's REST API."""

from __future__ import annotations

from typing import Any

from tests.fakes.coolify import FakeCoolify
from tests.monitor.support import wait_until
from tests.serve.conftest import Sink, StartServe
from tests.serve.harness import PB, ROUTER_KEY, TELEGRAM, bot_request, tenant_record


def stack_in(pbr: PB, tenant_id: str, name: str, status: str, **fields: Any) -> dict[str, Any]:
    def matches() -> dict[str, Any] | None:
        stack = pbr.stack(tenant_id, name)
        if stack and stack["status"] == status and all(stack[k] == v for k, v in fields.items()):
            return stack
        return None

    found = wait_until(matches, what=f"stack {name} {status}")
    assert found is not None
    return found


def compose_of(fake: FakeCoolify, uuid: str) -> str:
    compose = fake.service(uuid).compose
    assert compose is not None
    return compose.text


def test_a_tenant_with_requested_stacks_gets_them_running(
    start_serve: StartServe, pbr: PB, served_coolify: tuple[FakeCoolify, str]
) -> None:
    """The project exists, one stack record per request moves pending → provisioning → running with its
    uuids, every step is audited by `functions`, and no secret stays in requested_stacks."""
    fake, _ = served_coolify
    serve = start_serve().ready()
    tenant = pbr.create(
        "tenants", tenant_record("acme", requested_stacks=[bot_request("bot"), bot_request("two")])
    )
    stack = stack_in(pbr, tenant["id"], "bot", "running")
    stack_in(pbr, tenant["id"], "two", "running")
    assert stack["coolify_service_uuid"] and stack["plan"] == "starter"
    assert [p.name for p in fake.state.projects.values()] == ["cf-acme"]
    assert len(fake.services_named("cf-acme-bot")) == 1 and len(fake.services_named("cf-acme-two")) == 1
    assert fake.env_values(stack["coolify_service_uuid"])["TELEGRAM_BOT_TOKEN"] == TELEGRAM
    after = pbr.get("tenants", tenant["id"])
    assert after["coolify_project_uuid"] and TELEGRAM not in str(after["requested_stacks"])
    assert after["requested_stacks"][0]["params"] == {}
    actions = {e["action"]: e["actor"] for e in pbr.audit()}
    for action in (
        "stacks.requested",
        "provision.service_created",
        "provision.started",
        "provision.completed",
    ):
        assert actions[action] == "functions", action
    statuses = [e["details"].get("status") for e in pbr.audit("provision.completed")]
    assert statuses == ["running", "running"]
    assert serve.stop() == 0


def test_a_stack_record_follows_its_desired_state(
    start_serve: StartServe, pbr: PB, served_coolify: tuple[FakeCoolify, str], writer: PB
) -> None:
    """A stack record created directly provisions (its secrets from the write-only inbox); desired
    suspended stops it, running starts it again, deleted removes it and the emptied project."""
    fake, _ = served_coolify
    start_serve().ready()
    tenant = pbr.create("tenants", tenant_record("acme"))
    writer.create(
        "secret_inputs",
        {
            "tenant": "acme",
            "stack": "bot",
            "values": {"telegram_token": TELEGRAM, "router_api_key": ROUTER_KEY},
        },
    )
    record = pbr.create(
        "stacks",
        {
            "tenant": tenant["id"],
            "name": "bot",
            "template": "telegram-bot",
            "params": {},
            "desired_state": "running",
            "status": "pending",
        },
    )
    uuid = stack_in(pbr, tenant["id"], "bot", "running")["coolify_service_uuid"]
    assert pbr.records("secret_inputs") == []  # moved at once
    assert fake.env_values(uuid)["ROUTER_API_KEY"] == ROUTER_KEY

    pbr.update("stacks", record["id"], {"desired_state": "suspended"})
    stack_in(pbr, tenant["id"], "bot", "suspended")
    assert fake.service(uuid).status == "exited"
    pbr.update("stacks", record["id"], {"desired_state": "running"})
    stack_in(pbr, tenant["id"], "bot", "running")
    assert fake.service(uuid).status == "running:healthy"

    pbr.update("stacks", record["id"], {"desired_state": "deleted"})
    stack_in(pbr, tenant["id"], "bot", "deleted", coolify_service_uuid="")
    wait_until(
        lambda: pbr.get("tenants", tenant["id"])["coolify_project_uuid"] == "", what="the project gone"
    )
    assert not fake.state.projects
    assert [d.delete_volumes for d in fake.deletions] == [False]


def test_suspending_and_reactivating_the_tenant(
    start_serve: StartServe, pbr: PB, served_coolify: tuple[FakeCoolify, str]
) -> None:
    """tenant suspended → every stack stops; active → only the ones it stopped start again."""
    fake, _ = served_coolify
    start_serve().ready()
    tenant = pbr.create(
        "tenants", tenant_record("acme", requested_stacks=[bot_request("one"), bot_request("two")])
    )
    one = stack_in(pbr, tenant["id"], "one", "running")
    two = stack_in(pbr, tenant["id"], "two", "running")
    pbr.update("stacks", two["id"], {"desired_state": "suspended"})
    stack_in(pbr, tenant["id"], "two", "suspended")

    pbr.update("tenants", tenant["id"], {"status": "suspended"})
    stack_in(pbr, tenant["id"], "one", "suspended", suspended_with_tenant=True)
    assert fake.service(one["coolify_service_uuid"]).status == "exited"

    pbr.update("tenants", tenant["id"], {"status": "active"})
    stack_in(pbr, tenant["id"], "one", "running")
    assert fake.service(one["coolify_service_uuid"]).status == "running:healthy"
    assert pbr.stack(tenant["id"], "two")["status"] == "suspended"  # type: ignore[index]
    assert fake.service(two["coolify_service_uuid"]).status == "exited"


def test_a_plan_change_redeploys_under_the_new_limits_and_a_misfit_changes_nothing(
    start_serve: StartServe, pbr: PB, served_coolify: tuple[FakeCoolify, str], sink: Sink
) -> None:
    """starter → team: the deployed compose gets team's limits. team → starter with an llm-workspace:
    last_error on the tenant, one alert, the stacks untouched."""
    fake, _ = served_coolify
    start_serve(CFA_APPRISE_URLS=sink.url).ready()
    tenant = pbr.create("tenants", tenant_record("acme", requested_stacks=[bot_request("bot")]))
    uuid = stack_in(pbr, tenant["id"], "bot", "running")["coolify_service_uuid"]
    assert "mem_limit: 256M" in compose_of(fake, uuid)

    pbr.update("tenants", tenant["id"], {"plan": "team"})
    stack_in(pbr, tenant["id"], "bot", "running", plan="team")
    assert "mem_limit: 384M" in compose_of(fake, uuid) and "cf.plan: team" in compose_of(fake, uuid)
    assert fake.service(uuid).restarts == 1

    chat = {
        "template": "llm-workspace",
        "name": "chat",
        "params": {"router_api_key": ROUTER_KEY, "admin_email": "ops@example.com"},
    }
    pbr.update("tenants", tenant["id"], {"requested_stacks": [bot_request("bot"), chat]})
    stack_in(pbr, tenant["id"], "chat", "running")
    writes = len(fake.write_calls)
    pbr.update("tenants", tenant["id"], {"plan": "starter"})
    refused = wait_until(
        lambda: pbr.get("tenants", tenant["id"])["last_error"], what="the refusal on the tenant"
    )
    assert "template llm-workspace needs plan team" in refused
    wait_until(
        lambda: sink.matching("tenant acme: its record asks for something the platform refuses"),
        what="the alert",
    )
    assert len(fake.write_calls) == writes
    assert "mem_limit: 384M" in compose_of(fake, uuid)
    assert "runbooks/provisioning-failed.md" in str(sink.messages()[-1])


def test_a_stack_that_cannot_work_fails_once_with_one_alert(
    start_serve: StartServe, pbr: PB, served_coolify: tuple[FakeCoolify, str], sink: Sink
) -> None:
    """A parameter the template refuses: failed, last_error, an audit event and one alert with the
    runbook; later events about it do nothing more until its record changes."""
    start_serve(CFA_APPRISE_URLS=sink.url).ready()
    tenant = pbr.create("tenants", tenant_record("acme"))
    record = pbr.create(
        "stacks",
        {
            "tenant": tenant["id"],
            "name": "bot",
            "template": "telegram-bot",
            "params": {"telegram_token": TELEGRAM, "router_api_key": ROUTER_KEY, "history_turns": 999},
            "desired_state": "running",
            "status": "pending",
        },
    )
    failed = stack_in(pbr, tenant["id"], "bot", "failed")
    assert "history_turns" in failed["last_error"] and "at most 50" in failed["last_error"]
    wait_until(lambda: sink.matching("provision of acme/bot failed"), what="the alert")
    wait_until(lambda: len(pbr.audit("functions.gave_up")) == 1, what="the give-up audit")
    pbr.update("stacks", record["id"], {"fqdn": ""})  # a write that changes nothing that matters: no retry
    pbr.update("stacks", record["id"], {"params": {"history_turns": 5}})
    stack_in(pbr, tenant["id"], "bot", "running")
    assert len(sink.matching("provision of acme/bot failed")) == 1
