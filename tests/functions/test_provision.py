"""provision: one project, one service, secrets as envs, started and healthy, everything written back."""

from __future__ import annotations

import pytest

from functions.operations.provision import ProvisionRequest, provision
from functions.operations.tenants import create_tenant
from shared.errors import DuplicateResourcesError, NotConvergedError
from shared.pocketbase.client import PocketBase
from tests.fakes.coolify import FakeCoolify
from tests.functions.conftest import BOT_PARAMS, ROUTER_KEY, TOKEN, ContextFactory, records
from tests.logs import captured_logs

pytestmark = pytest.mark.anyio

REQUEST = ProvisionRequest(tenant="acme", template="telegram-bot", stack="bot", params=BOT_PARAMS)


async def test_first_provision_creates_starts_and_records(
    make_ctx: ContextFactory, acme: str, coolify_fake: FakeCoolify, pb: PocketBase
) -> None:
    """A new stack gets project cf-acme and service cf-acme-bot, its secrets as envs, and runs healthy."""
    with captured_logs() as logs:
        result = await provision(make_ctx(), REQUEST)

    projects = list(coolify_fake.state.projects.values())
    services = coolify_fake.services_named("cf-acme-bot")
    assert [p.name for p in projects] == ["cf-acme"]
    assert len(services) == 1
    service = services[0]
    envs = coolify_fake.env_values(service.uuid)
    assert (envs["TELEGRAM_BOT_TOKEN"], envs["ROUTER_API_KEY"]) == (TOKEN, ROUTER_KEY)
    assert service.status == "running:healthy"
    assert (result.status, result.service_uuid, result.project_uuid) == (
        "running",
        service.uuid,
        projects[0].uuid,
    )

    (stack,) = await records(pb, "stacks")
    (tenant,) = await records(pb, "tenants")
    (secrets,) = await records(pb, "stack_secrets")
    assert tenant["coolify_project_uuid"] == projects[0].uuid
    assert (stack["coolify_service_uuid"], stack["status"], stack["desired_state"]) == (
        service.uuid,
        "running",
        "running",
    )
    assert TOKEN not in str(stack["params"]) and ROUTER_KEY not in str(stack["params"])
    assert secrets["values"] == {"TELEGRAM_BOT_TOKEN": TOKEN, "ROUTER_API_KEY": ROUTER_KEY}

    events = sorted(await records(pb, "audit_events"), key=lambda e: (e["time"], e["seq"]))
    actions = [e["action"] for e in events]
    assert actions[1:] == [
        "provision.stack_recorded",
        "provision.secrets_stored",
        "provision.project_created",
        "provision.service_created",
        "provision.envs_set",
        "provision.started",
        "provision.completed",
    ]
    created = next(e for e in logs if e["event"] == "provision.service_created")
    assert (created["tenant"], created["stack"], created["service_uuid"]) == ("acme", "bot", service.uuid)
    assert created["operation_id"]


async def test_rerun_changes_nothing(make_ctx: ContextFactory, acme: str, coolify_fake: FakeCoolify) -> None:
    """Provisioning the same stack again sends no write to Coolify."""
    await provision(make_ctx(), REQUEST)
    writes_before = len(coolify_fake.write_calls)
    result = await provision(make_ctx(), REQUEST)
    assert len(coolify_fake.write_calls) == writes_before
    assert result.status == "running"


async def test_secret_params_can_be_omitted_on_rerun(
    make_ctx: ContextFactory, acme: str, coolify_fake: FakeCoolify
) -> None:
    """A re-run without the secret parameters uses the stored ones (level-triggered re-provisioning)."""
    await provision(make_ctx(), REQUEST)
    result = await provision(make_ctx(), REQUEST.model_copy(update={"params": {}}))
    assert result.status == "running"
    assert coolify_fake.env_values(result.service_uuid)["TELEGRAM_BOT_TOKEN"] == TOKEN


async def test_changed_params_update_compose_and_restart(
    make_ctx: ContextFactory, acme: str, coolify_fake: FakeCoolify
) -> None:
    """New parameter values patch the compose of the same service and restart it; nothing is created."""
    first = await provision(make_ctx(), REQUEST)
    changed = REQUEST.model_copy(update={"params": {"model": "gpt-4.1-mini"}})
    second = await provision(make_ctx(), changed)
    assert second.service_uuid == first.service_uuid
    assert len(coolify_fake.calls_to("PATCH", rf"/services/{first.service_uuid}$")) == 1
    assert len(coolify_fake.calls_to("POST", rf"/services/{first.service_uuid}/restart$")) == 1
    assert len(coolify_fake.calls_to("POST", r"/services$")) == 1
    compose = coolify_fake.service(first.service_uuid).compose
    assert compose is not None and "gpt-4.1-mini" in compose.text


async def test_rotated_secret_is_pushed_and_restarts(
    make_ctx: ContextFactory, acme: str, coolify_fake: FakeCoolify
) -> None:
    """A new token is upserted into Coolify's envs and the service restarts to pick it up."""
    first = await provision(make_ctx(), REQUEST)
    new_token = "123456789:AAnewtokennewtokennewtokennewtoken99"
    await provision(make_ctx(), REQUEST.model_copy(update={"params": {"telegram_token": new_token}}))
    assert coolify_fake.env_values(first.service_uuid)["TELEGRAM_BOT_TOKEN"] == new_token
    assert len(coolify_fake.calls_to("POST", rf"/services/{first.service_uuid}/restart$")) == 1


async def test_duplicate_projects_stop_everything(
    make_ctx: ContextFactory, acme: str, coolify_fake: FakeCoolify, pb: PocketBase
) -> None:
    """Two projects named cf-acme: refuse to create a third or a service, and audit why."""
    async with coolify_fake.client() as http:
        for _ in range(2):
            (await http.post("/projects", json={"name": "cf-acme"})).raise_for_status()
    with pytest.raises(DuplicateResourcesError) as caught:
        await provision(make_ctx(), REQUEST)
    assert "2 Coolify projects are named 'cf-acme'" in caught.value.message
    assert len(coolify_fake.state.projects) == 2
    assert coolify_fake.state.services == {}
    audit = {e["action"]: e["outcome"] for e in await records(pb, "audit_events")}
    assert audit["provision.duplicate_projects"] == "failed"


async def test_unhealthy_service_reports_not_converged(
    make_ctx: ContextFactory, acme: str, coolify_fake: FakeCoolify, pb: PocketBase
) -> None:
    """A service that never becomes healthy ends in NotConvergedError and a degraded stack with the reason."""
    first = await provision(make_ctx(), REQUEST.model_copy(update={"wait": False}))
    coolify_fake.set_status(first.service_uuid, "running:unhealthy")
    with pytest.raises(NotConvergedError, match="running:healthy"):
        await provision(make_ctx(provision_wait_seconds=20), REQUEST)
    (stack,) = await records(pb, "stacks")
    assert (stack["status"], stack["coolify_status"]) == ("degraded", "running:unhealthy")
    assert "did not become running:healthy within 20s" in stack["last_error"]


async def test_project_deleted_out_of_band_is_recreated(
    make_ctx: ContextFactory, acme: str, coolify_fake: FakeCoolify, pb: PocketBase
) -> None:
    """A stored project uuid that Coolify no longer knows is replaced, and the loss is audited."""
    first = await provision(make_ctx(), REQUEST)
    coolify_fake.state.services.clear()
    coolify_fake.state.projects.clear()
    second = await provision(make_ctx(), REQUEST)
    assert second.project_uuid != first.project_uuid
    assert len(coolify_fake.state.projects) == 1
    actions = {e["action"] for e in await records(pb, "audit_events")}
    assert {"provision.project_missing", "provision.service_missing"} <= actions


async def test_open_webui_gets_its_key_as_a_variable_of_its_own(
    make_ctx: ContextFactory, coolify_fake: FakeCoolify, pb: PocketBase
) -> None:
    """llm-workspace: OPENAI_API_KEY is pushed as a variable holding the Router key, and LiteLLM's
    master key once gateway=litellm; the compose only references ${OPENAI_API_KEY} (no plaintext copy)."""
    await create_tenant(make_ctx(), "acme", plan="team")
    request = ProvisionRequest(
        tenant="acme",
        template="llm-workspace",
        params={"router_api_key": ROUTER_KEY, "admin_email": "ops@example.com"},
    )
    first = await provision(make_ctx(), request)
    envs = coolify_fake.env_values(first.service_uuid)
    assert envs["OPENAI_API_KEY"] == envs["RAG_OPENAI_API_KEY"] == ROUTER_KEY
    await provision(make_ctx(), request.model_copy(update={"params": {"gateway": "litellm"}}))
    envs = coolify_fake.env_values(first.service_uuid)
    assert envs["OPENAI_API_KEY"] == envs["LITELLM_MASTER_KEY"] != ROUTER_KEY
    (secrets,) = await records(pb, "stack_secrets")
    assert "OPENAI_API_KEY" not in secrets["values"]  # derived, never stored
