"""cfa rotate: new values are stored, pushed through Coolify's env API and made live by a restart, so
the old ones are no longer served; derived variables follow their source; bad input changes nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from structlog.testing import capture_logs

from functions.operations.delete import delete
from functions.operations.digest import desired_digest, env_digest
from functions.operations.provision import ProvisionRequest, ProvisionResult, provision
from functions.operations.resume import resume
from functions.operations.rotate import rotate
from functions.operations.settle import START_GRACE_SECONDS
from functions.operations.status import status
from functions.operations.suspend import suspend
from functions.operations.tenants import create_tenant
from functions.records import Stack, Tenant
from shared.errors import CfaError, ConflictError, InvalidInput, StackFailedError
from shared.params import validate_params
from shared.pocketbase.client import PocketBase
from tests.fakes.clock import FakeClock
from tests.fakes.coolify import FakeCoolify
from tests.functions.conftest import BOT_PARAMS, ROUTER_KEY, TOKEN, ContextFactory, records

pytestmark = pytest.mark.anyio

NEW_TOKEN = "123456789:AAnewtokennewtokennewtokennewtoken99"
NEW_ROUTER_KEY = "sk-router-key-rotated-0002"
AGENT = {"router_api_key": ROUTER_KEY}
WORKSPACE = {"router_api_key": ROUTER_KEY, "admin_email": "admin@example.com", "gateway": "litellm"}


async def provisioned(
    make_ctx: ContextFactory, template: str, stack: str, params: dict[str, Any], tenant: str = "acme"
) -> ProvisionResult:
    request = ProvisionRequest(tenant=tenant, template=template, stack=stack, params=params)
    return await provision(make_ctx(), request)


async def team_tenant(make_ctx: ContextFactory) -> str:
    await create_tenant(make_ctx(), "globex", plan="team", name="Globex")
    return "globex"


async def secrets_of(pb: PocketBase, stack: str) -> dict[str, str]:
    record = await stack_record(pb, stack)
    (stored,) = [s for s in await records(pb, "stack_secrets") if s["stack"] == record["id"]]
    return dict(stored["values"])


async def stack_record(pb: PocketBase, name: str) -> dict[str, Any]:
    return next(s for s in await records(pb, "stacks") if s["name"] == name)


def outcome_uuid(record: dict[str, Any]) -> str:
    return str(record["coolify_service_uuid"])


def call_index(fake: FakeCoolify, method: str, suffix: str, after: int) -> int:
    return next(
        i for i, c in enumerate(fake.calls) if i >= after and c.method == method and c.path.endswith(suffix)
    )


async def assert_consistent(make_ctx: ContextFactory, pb: PocketBase, fake: FakeCoolify, name: str) -> None:
    """What Coolify has is what is stored, env_sha256 says so, nothing is pending or drifting."""
    record = await stack_record(pb, name)
    stack = Stack.model_validate(record)
    tenant = Tenant.model_validate(await pb.get_record("tenants", stack.tenant))
    ctx = make_ctx()
    template = ctx.catalog.get(stack.template)
    public = validate_params(template, stack.params or {}, require_secrets=False).public
    variables = template.service_variables(public, await secrets_of(pb, name))
    coolify = fake.env_values(stack.coolify_service_uuid)
    assert {k: coolify.get(k) for k in variables} == variables
    assert stack.env_sha256 == env_digest(variables)
    assert record["rotation_pending"] is None
    _, drifted = await desired_digest(ctx, tenant, stack)
    assert not drifted


async def test_rotation_replaces_generated_secrets_and_the_old_ones_are_no_longer_served(
    make_ctx: ContextFactory, acme: str, coolify_fake: FakeCoolify, pb: PocketBase
) -> None:
    """Both OpenClaw tokens get new values: stored, in Coolify's variables, and in the container after a
    restart that came after the env write; the deployed compose holds no value; the audit trail names
    the secrets and holds no value."""
    result = await provisioned(make_ctx, "openclaw-agent", "agent", AGENT)
    uuid = result.service_uuid
    old = await secrets_of(pb, "agent")
    restarts, first = coolify_fake.service(uuid).restarts, len(coolify_fake.calls)

    outcome = await rotate(make_ctx(), "acme", "agent")

    new = await secrets_of(pb, "agent")
    rotated = ["OPENCLAW_GATEWAY_TOKEN", "OPENCLAW_HOOKS_TOKEN"]
    assert outcome.rotated == rotated and outcome.restarted
    assert (outcome.status, outcome.coolify_status) == ("running", "running:healthy")
    for env in rotated:
        assert new[env] != old[env]
    assert new["ROUTER_API_KEY"] == old["ROUTER_API_KEY"]
    container = coolify_fake.container(uuid, "openclaw").environment
    assert {env: container[env] for env in rotated} == {env: new[env] for env in rotated}
    served = json.dumps([coolify_fake.env_values(uuid), coolify_fake.service(uuid).dotenv, container])
    deployed = json.dumps(coolify_fake.deployed_compose(uuid))
    for env in rotated:
        assert old[env] not in served
        assert old[env] not in deployed and new[env] not in deployed
    assert coolify_fake.service(uuid).restarts == restarts + 1
    assert call_index(coolify_fake, "PATCH", "/envs/bulk", first) < call_index(
        coolify_fake, "POST", "/restart", first
    )
    await assert_consistent(make_ctx, pb, coolify_fake, "agent")
    trail = [e for e in await records(pb, "audit_events") if e["action"].startswith("rotate.")]
    assert [e["action"] for e in trail] == [
        "rotate.requested",
        "rotate.secrets_stored",
        "rotate.envs_set",
        "rotate.restarted",
        "rotate.completed",
    ]
    assert trail[-1]["details"]["secrets"] == rotated
    text = json.dumps(trail)
    for value in [*old.values(), *new.values()]:
        assert value not in text


async def test_a_derived_pair_follows_the_litellm_master_key(
    make_ctx: ContextFactory, coolify_fake: FakeCoolify, pb: PocketBase
) -> None:
    """gateway=litellm: OPENAI_API_KEY and RAG_OPENAI_API_KEY (Open WebUI) and LiteLLM's own key all hold
    the new master key after one rotation; the other generated secrets keep their values."""
    tenant = await team_tenant(make_ctx)
    result = await provisioned(make_ctx, "llm-workspace", "chat", WORKSPACE, tenant=tenant)
    old = await secrets_of(pb, "chat")

    outcome = await rotate(make_ctx(), tenant, "chat", only=["litellm_master_key"])

    new = await secrets_of(pb, "chat")
    key = new["LITELLM_MASTER_KEY"]
    assert key != old["LITELLM_MASTER_KEY"]
    assert (outcome.rotated, outcome.derived) == (
        ["LITELLM_MASTER_KEY"],
        ["OPENAI_API_KEY", "RAG_OPENAI_API_KEY"],
    )
    webui = coolify_fake.container(result.service_uuid, "open-webui").environment
    litellm = coolify_fake.container(result.service_uuid, "litellm").environment
    assert webui["OPENAI_API_KEY"] == webui["RAG_OPENAI_API_KEY"] == litellm["LITELLM_MASTER_KEY"] == key
    assert {k: new[k] for k in ("WEBUI_SECRET_KEY", "WEBUI_ADMIN_PASSWORD")} == {
        k: old[k] for k in ("WEBUI_SECRET_KEY", "WEBUI_ADMIN_PASSWORD")
    }
    assert any(note.startswith("LITELLM_MASTER_KEY: ") for note in outcome.notes)
    await assert_consistent(make_ctx, pb, coolify_fake, "chat")


async def test_a_new_router_key_reaches_open_webui_through_its_derived_variables(
    make_ctx: ContextFactory, coolify_fake: FakeCoolify, pb: PocketBase
) -> None:
    """gateway=router: --param router_api_key replaces the tenant's key, and Open WebUI's two variables
    derived from it carry the new one; no generated secret changes."""
    tenant = await team_tenant(make_ctx)
    params = {**WORKSPACE, "gateway": "router"}
    result = await provisioned(make_ctx, "llm-workspace", "chat", params, tenant=tenant)
    old = await secrets_of(pb, "chat")

    outcome = await rotate(make_ctx(), tenant, "chat", params={"router_api_key": NEW_ROUTER_KEY})

    assert (outcome.rotated, outcome.derived) == (
        ["router_api_key"],
        ["OPENAI_API_KEY", "RAG_OPENAI_API_KEY"],
    )
    new = await secrets_of(pb, "chat")
    assert new == {**old, "ROUTER_API_KEY": NEW_ROUTER_KEY}
    webui = coolify_fake.container(result.service_uuid, "open-webui").environment
    assert webui["OPENAI_API_KEY"] == webui["RAG_OPENAI_API_KEY"] == NEW_ROUTER_KEY
    assert ROUTER_KEY not in json.dumps(coolify_fake.env_values(result.service_uuid))


async def test_by_default_only_routine_secrets_rotate_and_the_others_are_named(
    make_ctx: ContextFactory, coolify_fake: FakeCoolify, pb: PocketBase
) -> None:
    """llm-workspace: the session key rotates only when named, the admin password never (Open WebUI
    reads it once); the result says so."""
    tenant = await team_tenant(make_ctx)
    await provisioned(make_ctx, "llm-workspace", "chat", WORKSPACE, tenant=tenant)
    old = await secrets_of(pb, "chat")
    outcome = await rotate(make_ctx(), tenant, "chat")
    new = await secrets_of(pb, "chat")
    assert outcome.rotated == ["LITELLM_MASTER_KEY"]
    assert [k for k in old if old[k] != new[k]] == ["LITELLM_MASTER_KEY"]
    skipped = [n for n in outcome.notes if n.startswith("not rotated: ")]
    assert [n.split()[2] for n in skipped] == ["WEBUI_SECRET_KEY", "WEBUI_ADMIN_PASSWORD"]

    named = await rotate(make_ctx(), tenant, "chat", only=["WEBUI_SECRET_KEY"])
    assert named.rotated == ["WEBUI_SECRET_KEY"]
    assert (await secrets_of(pb, "chat"))["WEBUI_SECRET_KEY"] != old["WEBUI_SECRET_KEY"]


async def test_a_telegram_token_is_replaced_with_param(
    make_ctx: ContextFactory, acme: str, coolify_fake: FakeCoolify, pb: PocketBase
) -> None:
    """The tenant's new bot token replaces the old one in the store, in Coolify and in the container."""
    result = await provisioned(make_ctx, "telegram-bot", "bot", BOT_PARAMS)
    outcome = await rotate(make_ctx(), "acme", "bot", params={"telegram_token": NEW_TOKEN})
    assert outcome.rotated == ["telegram_token"] and outcome.derived == []
    assert await secrets_of(pb, "bot") == {"TELEGRAM_BOT_TOKEN": NEW_TOKEN, "ROUTER_API_KEY": ROUTER_KEY}
    assert coolify_fake.container(result.service_uuid, "bot").environment["TELEGRAM_BOT_TOKEN"] == NEW_TOKEN
    assert TOKEN not in json.dumps(coolify_fake.env_values(result.service_uuid))
    await assert_consistent(make_ctx, pb, coolify_fake, "bot")


@pytest.mark.parametrize(
    ("stack", "params", "only", "field", "says"),
    [
        ("bot", {}, [], "acme/bot", "generates no secret that can be rotated"),
        ("bot", {"model": "gpt-4o"}, [], "param model", "is not a secret"),
        ("bot", {"telegram_tokn": NEW_TOKEN}, [], "param telegram_tokn", "has no parameter"),
        ("bot", {"telegram_token": "not-a-token"}, [], "param telegram_token", ""),
        ("bot", {"telegram_token": TOKEN}, [], "param telegram_token", "already has"),
        ("bot", {}, ["telegram_token"], "--only telegram_token", "supplied by the tenant"),
        ("agent", {}, ["OPENCLAW_TOKEN"], "--only OPENCLAW_TOKEN", "generates no secret"),
        ("agent", {}, ["ROUTER_API_KEY"], "--only ROUTER_API_KEY", "supplied by the tenant"),
    ],
)
async def test_bad_input_is_refused_and_changes_nothing(
    make_ctx: ContextFactory,
    acme: str,
    coolify_fake: FakeCoolify,
    pb: PocketBase,
    stack: str,
    params: dict[str, str],
    only: list[str],
    field: str,
    says: str,
) -> None:
    """A refusal names what was wrong; no record, secret or Coolify variable changes; it is audited."""
    await provisioned(make_ctx, "telegram-bot", "bot", BOT_PARAMS)
    await provisioned(make_ctx, "openclaw-agent", "agent", AGENT)
    before = {c: await records(pb, c) for c in ("stacks", "stack_secrets")}
    calls = len(coolify_fake.write_calls)
    with pytest.raises(InvalidInput) as caught:
        await rotate(make_ctx(), "acme", stack, params=params, only=only)
    assert caught.value.field == field and says in caught.value.message
    assert caught.value.advice
    assert {c: await records(pb, c) for c in ("stacks", "stack_secrets")} == before
    assert len(coolify_fake.write_calls) == calls
    refused = [e for e in await records(pb, "audit_events") if e["action"] == "rotate"]
    assert [e["outcome"] for e in refused] == ["refused"]


@pytest.mark.parametrize(
    ("only", "says"),
    [
        (["WEBUI_ADMIN_PASSWORD"], "cannot be rotated: Open WebUI reads it only"),
        (["OPENAI_API_KEY"], "is derived from LITELLM_MASTER_KEY or ROUTER_API_KEY"),
    ],
)
async def test_secrets_that_cannot_be_rotated_are_refused(
    make_ctx: ContextFactory, coolify_fake: FakeCoolify, pb: PocketBase, only: list[str], says: str
) -> None:
    """The admin password (read once by Open WebUI) and derived variables cannot be rotated directly."""
    tenant = await team_tenant(make_ctx)
    await provisioned(make_ctx, "llm-workspace", "chat", WORKSPACE, tenant=tenant)
    before = await secrets_of(pb, "chat")
    with pytest.raises(InvalidInput) as caught:
        await rotate(make_ctx(), tenant, "chat", only=only)
    assert says in caught.value.message
    assert await secrets_of(pb, "chat") == before


async def test_a_suspended_stack_gets_the_new_values_without_being_started(
    make_ctx: ContextFactory, acme: str, coolify_fake: FakeCoolify, pb: PocketBase
) -> None:
    """Stored and pushed, not started (and the result says so); its next start serves the new values."""
    result = await provisioned(make_ctx, "openclaw-agent", "agent", AGENT)
    await suspend(make_ctx(), "acme", "agent")
    service = coolify_fake.service(result.service_uuid)
    starts, restarts = service.starts, service.restarts

    outcome = await rotate(make_ctx(), "acme", "agent")

    assert (outcome.status, outcome.restarted) == ("suspended", False)
    assert any("cfa resume acme/agent" in note for note in outcome.notes)
    assert (service.starts, service.restarts, service.status) == (starts, restarts, "exited")
    new = await secrets_of(pb, "agent")
    assert (
        coolify_fake.env_values(result.service_uuid)["OPENCLAW_GATEWAY_TOKEN"]
        == new["OPENCLAW_GATEWAY_TOKEN"]
    )
    completed = [e for e in await records(pb, "audit_events") if e["action"] == "rotate.completed"]
    assert completed[-1]["details"]["restarted"] is False
    await assert_consistent(make_ctx, pb, coolify_fake, "agent")

    await resume(make_ctx(), "acme", "agent")
    container = coolify_fake.container(result.service_uuid, "openclaw").environment
    assert container["OPENCLAW_GATEWAY_TOKEN"] == new["OPENCLAW_GATEWAY_TOKEN"]


async def test_a_stack_being_deleted_is_refused(
    make_ctx: ContextFactory, acme: str, coolify_fake: FakeCoolify, pb: PocketBase
) -> None:
    """desired_state=deleted: nothing to rotate, nothing changes."""
    await provisioned(make_ctx, "openclaw-agent", "agent", AGENT)
    await delete(make_ctx(), "acme", "agent", wait=False)
    before = await records(pb, "stack_secrets")
    with pytest.raises(ConflictError, match="being deleted"):
        await rotate(make_ctx(), "acme", "agent")
    assert await records(pb, "stack_secrets") == before


async def test_without_waiting_the_stack_is_rotating_until_an_observation_settles_it(
    make_ctx: ContextFactory,
    acme: str,
    coolify_fake: FakeCoolify,
    coolify_clock: FakeClock,
    pb: PocketBase,
) -> None:
    """--no-wait leaves status rotating. Running:healthy seen by someone who did not watch the restart
    happen could still be the old containers: only past the start grace does cfa status record running,
    audit rotate.completed with the secrets' names and clear the pending marker."""
    await provisioned(make_ctx, "openclaw-agent", "agent", AGENT)
    outcome = await rotate(make_ctx(), "acme", "agent", wait=False)
    record = await stack_record(pb, "agent")
    assert outcome.status == record["status"] == "rotating"
    assert record["rotation_pending"]["pushed"] is True
    coolify_clock.advance(10)  # the restart takes 3 s in the fake
    assert coolify_fake.service(outcome_uuid(record)).status == "running:healthy"
    report = await status(make_ctx(), "acme")
    assert [s.status for s in report.stacks] == ["rotating"]
    later = datetime.now(UTC) + timedelta(seconds=START_GRACE_SECONDS + 1)
    report = await status(make_ctx(wall=lambda: later), "acme")
    assert [s.status for s in report.stacks] == ["running"]
    completed = [e for e in await records(pb, "audit_events") if e["action"] == "rotate.completed"]
    assert completed[-1]["details"]["secrets"] == ["OPENCLAW_GATEWAY_TOKEN", "OPENCLAW_HOOKS_TOKEN"]
    await assert_consistent(make_ctx, pb, coolify_fake, "agent")


async def test_a_restart_that_fails_fails_the_rotation_with_the_secrets_named(
    make_ctx: ContextFactory, acme: str, coolify_fake: FakeCoolify, pb: PocketBase
) -> None:
    """Coolify's compose up fails after the restart: the stack is failed and rotate.failed names the
    secrets; the new values are stored and in Coolify (a later start uses them)."""
    result = await provisioned(make_ctx, "openclaw-agent", "agent", AGENT)
    coolify_fake.fail_compose_up(result.service_uuid)
    with pytest.raises(StackFailedError):
        await rotate(make_ctx(), "acme", "agent")
    record = await stack_record(pb, "agent")
    assert record["status"] == "failed" and "started, then exited" in record["last_error"]
    failed = [e for e in await records(pb, "audit_events") if e["action"] == "rotate.failed"]
    assert failed[-1]["details"]["secrets"] == ["OPENCLAW_GATEWAY_TOKEN", "OPENCLAW_HOOKS_TOKEN"]
    await assert_consistent(make_ctx, pb, coolify_fake, "agent")


async def test_no_value_reaches_the_logs(
    make_ctx: ContextFactory, acme: str, coolify_fake: FakeCoolify, pb: PocketBase
) -> None:
    """Every log event of a rotation carries names only."""
    await provisioned(make_ctx, "telegram-bot", "bot", BOT_PARAMS)
    with capture_logs() as logs:
        await rotate(make_ctx(), "acme", "bot", params={"telegram_token": NEW_TOKEN})
    events = [e["event"] for e in logs]
    assert "rotate.requested" in events and "rotate.envs_set" in events
    text = json.dumps(logs, default=str)
    assert NEW_TOKEN not in text and TOKEN not in text and ROUTER_KEY not in text


async def test_an_unknown_stack_or_a_failed_lookup_is_an_error_not_a_change(
    make_ctx: ContextFactory, acme: str, pb: PocketBase
) -> None:
    """A stack that does not exist: NotFound with a hint, nothing written but the refusal."""
    with pytest.raises(CfaError) as caught:
        await rotate(make_ctx(), "acme", "nope")
    assert caught.value.exit_code == 3
    assert await records(pb, "stack_secrets") == []


async def test_a_rerun_while_rotating_finishes_that_rotation_instead_of_starting_another(
    make_ctx: ContextFactory, acme: str, coolify_fake: FakeCoolify, pb: PocketBase
) -> None:
    """After --no-wait, the same command pushes the stored values again, restarts and waits: the values
    are the first run's, and rotate.completed is audited once."""
    result = await provisioned(make_ctx, "openclaw-agent", "agent", AGENT)
    await rotate(make_ctx(), "acme", "agent", wait=False)
    first = await secrets_of(pb, "agent")
    restarts = coolify_fake.service(result.service_uuid).restarts
    again = await rotate(make_ctx(), "acme", "agent")
    assert (again.status, again.finished) == ("running", ["OPENCLAW_GATEWAY_TOKEN", "OPENCLAW_HOOKS_TOKEN"])
    assert await secrets_of(pb, "agent") == first
    assert coolify_fake.service(result.service_uuid).restarts == restarts + 1
    completed = [e for e in await records(pb, "audit_events") if e["action"] == "rotate.completed"]
    assert len(completed) == 1
    await assert_consistent(make_ctx, pb, coolify_fake, "agent")


async def test_other_queued_work_is_refused(
    make_ctx: ContextFactory, acme: str, coolify_fake: FakeCoolify, pb: PocketBase
) -> None:
    """A stack being provisioned (its start queued, not yet observed) is not rotated under it."""
    await provision(
        make_ctx(),
        ProvisionRequest(tenant="acme", template="openclaw-agent", stack="agent", params=AGENT, wait=False),
    )
    before = await records(pb, "stack_secrets")
    with pytest.raises(ConflictError, match="work queued in Coolify \\(it is provisioning\\)"):
        await rotate(make_ctx(), "acme", "agent")
    assert await records(pb, "stack_secrets") == before
