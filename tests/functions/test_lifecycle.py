"""suspend, resume and delete: the intent is recorded, Coolify follows, the outcome is written back."""

from __future__ import annotations

import pytest

from functions.operations.delete import delete
from functions.operations.provision import ProvisionRequest, ProvisionResult, provision
from functions.operations.resume import resume
from functions.operations.suspend import suspend
from shared.errors import ConflictError, NotConvergedError
from shared.pocketbase.client import PocketBase
from tests.fakes.coolify import FakeCoolify
from tests.functions.conftest import BOT_PARAMS, ContextFactory, records

pytestmark = pytest.mark.anyio


async def provisioned(make_ctx: ContextFactory, stack: str = "bot") -> ProvisionResult:
    return await provision(
        make_ctx(), ProvisionRequest(tenant="acme", template="telegram-bot", stack=stack, params=BOT_PARAMS)
    )


async def stack_record(pb: PocketBase, name: str = "bot") -> dict[str, object]:
    return next(s for s in await records(pb, "stacks") if s["name"] == name)


async def test_suspend_stops_and_records(
    make_ctx: ContextFactory, acme: str, coolify_fake: FakeCoolify, pb: PocketBase
) -> None:
    """Suspend stops the service, waits until it is stopped and records suspended/suspended."""
    result = await provisioned(make_ctx)
    outcome = await suspend(make_ctx(), "acme", "bot")
    record = await stack_record(pb)
    assert coolify_fake.service(result.service_uuid).status == "exited"
    assert (outcome.status, outcome.desired_state) == ("suspended", "suspended")
    assert (record["status"], record["desired_state"]) == ("suspended", "suspended")


async def test_suspend_twice_is_harmless(
    make_ctx: ContextFactory, acme: str, coolify_fake: FakeCoolify
) -> None:
    """A second suspend meets 'already stopped' and still succeeds."""
    result = await provisioned(make_ctx)
    await suspend(make_ctx(), "acme", "bot")
    again = await suspend(make_ctx(), "acme", "bot")
    assert again.status == "suspended"
    assert coolify_fake.service(result.service_uuid).stops == 1


async def test_a_suspend_already_in_flight_is_waited_on_not_sent_again(
    make_ctx: ContextFactory, acme: str, coolify_fake: FakeCoolify, pb: PocketBase
) -> None:
    """A second suspend while the first one's stop is queued (a replayed event, a second click) asks
    Coolify nothing and waits for the same stop to settle."""
    result = await provisioned(make_ctx)
    queued = await suspend(make_ctx(), "acme", "bot", wait=False)
    settled = await suspend(make_ctx(), "acme", "bot")
    assert queued.status == "suspending" and settled.status == "suspended"
    assert coolify_fake.service(result.service_uuid).stops == 1
    assert len([e for e in await records(pb, "audit_events") if e["action"] == "suspend.requested"]) == 1


async def test_a_resume_already_in_flight_is_waited_on_not_sent_again(
    make_ctx: ContextFactory, acme: str, coolify_fake: FakeCoolify, pb: PocketBase
) -> None:
    result = await provisioned(make_ctx)
    await suspend(make_ctx(), "acme", "bot")
    starts = len(coolify_fake.calls_to("*", rf"/services/{result.service_uuid}/start$"))
    queued = await resume(make_ctx(), "acme", "bot", wait=False)
    again = await resume(make_ctx(), "acme", "bot", wait=False)
    settled = await resume(make_ctx(), "acme", "bot")
    assert (queued.status, again.status, settled.status) == ("resuming", "resuming", "running")
    assert len(coolify_fake.calls_to("*", rf"/services/{result.service_uuid}/start$")) == starts + 1


async def test_resume_starts_and_waits_for_health(
    make_ctx: ContextFactory, acme: str, coolify_fake: FakeCoolify, pb: PocketBase
) -> None:
    """Resume starts a suspended stack and records running once Coolify reports running:healthy."""
    result = await provisioned(make_ctx)
    await suspend(make_ctx(), "acme", "bot")
    outcome = await resume(make_ctx(), "acme", "bot")
    assert coolify_fake.service(result.service_uuid).status == "running:healthy"
    assert (outcome.status, outcome.desired_state, outcome.coolify_status) == (
        "running",
        "running",
        "running:healthy",
    )


async def test_resume_that_never_gets_healthy(
    make_ctx: ContextFactory, acme: str, coolify_fake: FakeCoolify, pb: PocketBase
) -> None:
    """When the service stays unhealthy, resume fails retryably: the stack is recorded degraded (what
    Coolify reports) with the reason."""
    result = await provisioned(make_ctx)
    await suspend(make_ctx(), "acme", "bot")
    coolify_fake.set_start_outcome(result.service_uuid, "running:unhealthy")
    with pytest.raises(NotConvergedError):
        await resume(make_ctx(provision_wait_seconds=10), "acme", "bot")
    record = await stack_record(pb)
    assert (record["desired_state"], record["status"]) == ("running", "degraded")
    assert "did not become running:healthy within 10s (Coolify: running:unhealthy)" in str(
        record["last_error"]
    )


async def test_delete_keeps_volumes_by_default_and_removes_the_empty_project(
    make_ctx: ContextFactory, acme: str, coolify_fake: FakeCoolify, pb: PocketBase
) -> None:
    """Delete sends delete_volumes=false, waits for the async delete, then deletes the empty project."""
    coolify_fake.state.delete_delay = 5.0
    await provisioned(make_ctx)
    outcome = await delete(make_ctx(), "acme", "bot")
    (deletion,) = coolify_fake.deletions
    assert deletion.delete_volumes is False
    assert deletion.completed_at is not None
    assert coolify_fake.state.services == {} and coolify_fake.state.projects == {}
    (tenant,) = await records(pb, "tenants")
    record = await stack_record(pb)
    assert outcome.status == "deleted"
    assert (record["status"], record["desired_state"], record["coolify_service_uuid"]) == (
        "deleted",
        "deleted",
        "",
    )
    assert tenant["coolify_project_uuid"] == ""
    assert len(await records(pb, "stack_secrets")) == 1


async def test_delete_with_volumes_also_drops_the_secrets(
    make_ctx: ContextFactory, acme: str, coolify_fake: FakeCoolify, pb: PocketBase
) -> None:
    """Asking for the volumes to go sends delete_volumes=true and removes the stack's stored secrets."""
    await provisioned(make_ctx)
    await delete(make_ctx(), "acme", "bot", delete_volumes=True)
    assert [d.delete_volumes for d in coolify_fake.deletions] == [True]
    assert await records(pb, "stack_secrets") == []


async def test_project_stays_while_another_stack_lives(
    make_ctx: ContextFactory, acme: str, coolify_fake: FakeCoolify
) -> None:
    """Deleting one of two stacks leaves the tenant's project in place."""
    await provisioned(make_ctx, "bot")
    await provisioned(make_ctx, "helper")
    await delete(make_ctx(), "acme", "bot")
    assert [p.name for p in coolify_fake.state.projects.values()] == ["cf-acme"]
    assert [s.name for s in coolify_fake.state.services.values()] == ["cf-acme-helper"]


async def test_delete_timeout_then_rerun_finishes(
    make_ctx: ContextFactory, acme: str, coolify_fake: FakeCoolify, pb: PocketBase
) -> None:
    """If Coolify is slow to delete, the first run times out (deleting) and a re-run completes it."""
    coolify_fake.state.delete_delay = 100.0
    await provisioned(make_ctx)
    with pytest.raises(NotConvergedError):
        await delete(make_ctx(delete_wait_seconds=10), "acme", "bot")
    assert (await stack_record(pb))["status"] == "deleting"
    outcome = await delete(make_ctx(delete_wait_seconds=200), "acme", "bot")
    assert outcome.status == "deleted"
    assert len(coolify_fake.deletions) == 1


async def test_deleted_stack_can_be_provisioned_again(
    make_ctx: ContextFactory, acme: str, coolify_fake: FakeCoolify
) -> None:
    """After delete, provisioning the same stack name creates a fresh service."""
    first = await provisioned(make_ctx)
    await delete(make_ctx(), "acme", "bot")
    second = await provisioned(make_ctx)
    assert second.service_uuid != first.service_uuid
    assert second.status == "running"


async def test_suspending_a_deleted_stack_is_refused(make_ctx: ContextFactory, acme: str) -> None:
    """A deleted stack cannot be suspended or resumed; the error says to provision it again."""
    await provisioned(make_ctx)
    await delete(make_ctx(), "acme", "bot")
    with pytest.raises(ConflictError, match="was deleted"):
        await suspend(make_ctx(), "acme", "bot")
    with pytest.raises(ConflictError) as caught:
        await resume(make_ctx(), "acme", "bot")
    assert "cfa provision acme telegram-bot --name bot" in caught.value.advice
