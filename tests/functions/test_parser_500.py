"""Crash safety when Coolify's service parser throws: a 500 that arrives *after* Coolify saved the
service (or, on a PATCH, its new compose), leaving a half-made record without urls (§15).

Provisioning must adopt that record instead of creating a second one, and repair it (compose and urls
sent again) as soon as Coolify accepts the compose.
"""

from __future__ import annotations

import pytest

from functions.operations.provision import ProvisionRequest, provision
from shared.errors import CfaError
from shared.pocketbase.client import PocketBase
from tests.fakes.coolify import FakeCoolify
from tests.functions.conftest import ROUTER_KEY, ContextFactory, records
from tests.templates.coolify_deploy import from_b64_json

pytestmark = pytest.mark.anyio

# openclaw-agent: public, so a half-made record is visibly missing its url (fqdn).
REQUEST = ProvisionRequest(
    tenant="acme", template="openclaw-agent", stack="agent", params={"router_api_key": ROUTER_KEY}
)
PUBLIC = "https://agent-acme.agents.example.com:18789"


def the_only_service(coolify_fake: FakeCoolify) -> str:
    (service,) = coolify_fake.services_named("cf-acme-agent")
    assert [p.name for p in coolify_fake.state.projects.values()] == ["cf-acme"]
    return service.uuid


async def test_a_create_answered_500_after_saving_is_adopted_and_repaired(
    make_ctx: ContextFactory, acme: str, coolify_fake: FakeCoolify, pb: PocketBase
) -> None:
    """POST /services saved the service, then its parser threw: one run still ends with exactly one
    service, its public url applied, its variables set and running."""
    coolify_fake.fail_parse()
    result = await provision(make_ctx(), REQUEST)
    uuid = the_only_service(coolify_fake)
    assert len(coolify_fake.calls_to("POST", r"/services$")) == 1
    assert result.service_uuid == uuid and result.status == "running"
    service = coolify_fake.service(uuid)
    assert [(app.name, app.fqdn) for app in service.applications if app.fqdn] == [("openclaw", PUBLIC)]
    assert coolify_fake.env_values(uuid)["ROUTER_API_KEY"] == ROUTER_KEY
    assert service.status == "running:healthy"
    actions = {e["action"] for e in await records(pb, "audit_events")}
    assert "provision.service_adopted" in actions


async def test_a_create_refused_500_every_time_leaves_one_adopted_record(
    make_ctx: ContextFactory, acme: str, coolify_fake: FakeCoolify, pb: PocketBase
) -> None:
    """While Coolify keeps throwing, runs fail retryably and keep the half-made service's uuid; once
    it accepts the compose again, a re-run converges to that one service."""
    coolify_fake.fail_parse(times=1_000)
    for _ in range(2):
        with pytest.raises(CfaError) as caught:
            await provision(make_ctx(), REQUEST)
        assert caught.value.retryable
    uuid = the_only_service(coolify_fake)
    (stack,) = await records(pb, "stacks")
    assert stack["coolify_service_uuid"] == uuid and stack["status"] != "failed"
    assert "500" in stack["last_error"]
    coolify_fake.state.parse_failures = 0
    result = await provision(make_ctx(), REQUEST)
    assert the_only_service(coolify_fake) == uuid == result.service_uuid
    assert {app.name: app.fqdn for app in coolify_fake.service(uuid).applications}["openclaw"] == PUBLIC
    assert result.status == "running"


async def test_a_patch_answered_500_after_saving_is_sent_again(
    make_ctx: ContextFactory, acme: str, coolify_fake: FakeCoolify
) -> None:
    """A re-provision's PATCH saved the new compose, then the parser threw (urls not applied): the
    run sends it again and the stack converges on the new compose with its url."""
    first = await provision(make_ctx(), REQUEST)
    coolify_fake.fail_parse()
    changed = REQUEST.model_copy(update={"params": {"model": "gpt-4.1-mini"}})
    result = await provision(make_ctx(), changed)
    assert result.service_uuid == first.service_uuid == the_only_service(coolify_fake)
    service = coolify_fake.service(result.service_uuid)
    config = from_b64_json(
        coolify_fake.container(service.uuid, "openclaw-init").environment["CF_OPENCLAW_CONFIG_B64"]
    )
    assert config["agents"]["defaults"]["model"]["primary"] == "router/gpt-4.1-mini"
    assert [app.fqdn for app in service.applications if app.fqdn] == [PUBLIC]
    assert result.status == "running"
