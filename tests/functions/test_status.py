"""status: stored state next to what Coolify reports now; credentials only on request, audited."""

from __future__ import annotations

import pytest

from functions.operations.provision import ProvisionRequest, provision
from functions.operations.status import status
from shared.pocketbase.client import PocketBase
from tests.fakes.coolify import FakeCoolify
from tests.functions.conftest import BOT_PARAMS, ContextFactory, records

pytestmark = pytest.mark.anyio


async def test_status_shows_live_coolify_state(
    make_ctx: ContextFactory, acme: str, coolify_fake: FakeCoolify, pb: PocketBase
) -> None:
    """The report has plan, limit, uuids and Coolify's current status; what it observes is recorded
    (an unhealthy stack becomes degraded), without an audit event for a mere observation."""
    result = await provision(
        make_ctx(), ProvisionRequest(tenant="acme", template="telegram-bot", params=BOT_PARAMS)
    )
    coolify_fake.set_status(result.service_uuid, "running:unhealthy")
    audit_before = len(await records(pb, "audit_events"))
    report = await status(make_ctx(), "acme")
    (stack,) = report.stacks
    assert (report.plan, report.stack_limit, report.project_uuid) == ("starter", 2, result.project_uuid)
    assert (stack.name, stack.status, stack.coolify_status) == ("bot", "degraded", "running:unhealthy")
    assert stack.credentials is None
    assert len(await records(pb, "audit_events")) == audit_before
    (stored,) = await records(pb, "stacks")
    assert (stored["status"], stored["coolify_status"]) == ("degraded", "running:unhealthy")
    assert await records(pb, "operation_locks") == []


async def test_missing_service_is_reported(
    make_ctx: ContextFactory, acme: str, coolify_fake: FakeCoolify
) -> None:
    """A service deleted behind our back shows as missing in Coolify."""
    await provision(make_ctx(), ProvisionRequest(tenant="acme", template="telegram-bot", params=BOT_PARAMS))
    coolify_fake.state.services.clear()
    (stack,) = (await status(make_ctx(), "acme")).stacks
    assert stack.coolify_status == "missing in Coolify"


async def test_show_credentials_is_audited(make_ctx: ContextFactory, acme: str, pb: PocketBase) -> None:
    """Asking for credentials writes an audit event even when the template has none to show."""
    await provision(make_ctx(), ProvisionRequest(tenant="acme", template="telegram-bot", params=BOT_PARAMS))
    report = await status(make_ctx(), "acme", show_credentials=True)
    assert report.stacks[0].credentials == {}
    assert "status.credentials_shown" in {e["action"] for e in await records(pb, "audit_events")}
