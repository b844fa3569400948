"""A record says only what was observed: queued work leaves a transitional status, and only an
observation of Coolify (by the waiting operation, or later by `status`) moves a stack to an end state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from functions.operations.delete import delete
from functions.operations.provision import ProvisionRequest, provision
from functions.operations.resume import resume
from functions.operations.status import status
from functions.operations.suspend import suspend
from shared.errors import AuthError, ConflictError, StackFailedError
from shared.pocketbase.client import PocketBase
from tests.fakes.clock import FakeClock
from tests.fakes.coolify import FakeCoolify
from tests.functions.conftest import BOT_PARAMS, ContextFactory, records

pytestmark = pytest.mark.anyio

REQUEST = ProvisionRequest(tenant="acme", template="telegram-bot", stack="bot", params=BOT_PARAMS)


async def stack_record(pb: PocketBase) -> dict[str, object]:
    (record,) = await records(pb, "stacks")
    return record


async def actions(pb: PocketBase) -> list[str]:
    events = sorted(await records(pb, "audit_events"), key=lambda e: (e["time"], e["seq"]))
    return [str(e["action"]) for e in events]


async def test_delete_no_wait_records_deleting_until_coolify_has_removed_it(
    make_ctx: ContextFactory, acme: str, coolify_fake: FakeCoolify, coolify_clock: FakeClock, pb: PocketBase
) -> None:
    """delete --no-wait: 'deleting' with the uuid kept and no delete.completed while Coolify works; a
    provision meanwhile is refused (it must not adopt the dying service); status then settles it."""
    coolify_fake.state.delete_delay = 30.0
    first = await provision(make_ctx(), REQUEST)
    outcome = await delete(make_ctx(), "acme", "bot", wait=False)
    record = await stack_record(pb)
    assert outcome.status == "deleting"
    assert (record["status"], record["coolify_service_uuid"]) == ("deleting", first.service_uuid)
    assert record["kept_volumes"] is None  # the bot has no volumes
    assert "delete.completed" not in await actions(pb)

    with pytest.raises(ConflictError, match="is being deleted"):
        await provision(make_ctx(), REQUEST)
    assert len(coolify_fake.services_named("cf-acme-bot")) == 1

    coolify_clock.advance(31)
    coolify_fake.finish_deletions()
    report = await status(make_ctx(), "acme")
    record = await stack_record(pb)
    assert report.stacks[0].status == "deleted"
    assert (record["status"], record["coolify_service_uuid"]) == ("deleted", "")
    assert (await actions(pb)).count("delete.completed") == 1
    assert coolify_fake.state.projects == {}  # the emptied project went with it
    assert (await records(pb, "tenants"))[0]["coolify_project_uuid"] == ""


async def test_suspend_no_wait_records_what_coolify_reports(
    make_ctx: ContextFactory, acme: str, coolify_fake: FakeCoolify, coolify_clock: FakeClock, pb: PocketBase
) -> None:
    """suspend --no-wait: 'suspending' and Coolify's real status (not a made-up 'exited'), until an
    observation of the stopped service settles it as suspended."""
    await provision(make_ctx(), REQUEST)
    outcome = await suspend(make_ctx(), "acme", "bot", wait=False)
    record = await stack_record(pb)
    assert outcome.status == "suspending"
    assert (record["status"], record["coolify_status"]) == ("suspending", "running:healthy")
    assert "suspend.completed" not in await actions(pb)

    coolify_clock.advance(5)
    await status(make_ctx(), "acme")
    record = await stack_record(pb)
    assert (record["status"], record["coolify_status"]) == ("suspended", "exited")
    assert (await actions(pb)).count("suspend.completed") == 1


async def test_provision_no_wait_is_settled_by_status(
    make_ctx: ContextFactory, acme: str, coolify_clock: FakeClock, pb: PocketBase
) -> None:
    """provision --no-wait leaves 'provisioning' (not forever): status settles it to running."""
    result = await provision(make_ctx(), REQUEST.model_copy(update={"wait": False}))
    assert result.status == "provisioning"
    record = await stack_record(pb)
    assert record["status"] == "provisioning" and record["transition_at"]
    coolify_clock.advance(5)
    (shown,) = (await status(make_ctx(), "acme")).stacks
    assert (shown.status, shown.coolify_status) == ("running", "running:healthy")
    record = await stack_record(pb)
    assert (record["status"], record["transition_at"]) == ("running", "")
    assert (await actions(pb)).count("provision.completed") == 1


async def test_a_start_that_exits_is_failed_promptly(
    make_ctx: ContextFactory, acme: str, coolify_fake: FakeCoolify, coolify_clock: FakeClock, pb: PocketBase
) -> None:
    """Coolify shows 'starting', then 'exited' when `docker compose up` fails: provision says "started,
    then exited" at once, marks the stack failed and does not wait out its 60 s."""
    first = await provision(make_ctx(), REQUEST.model_copy(update={"wait": False}))
    coolify_clock.advance(5)
    await suspend(make_ctx(), "acme", "bot")
    coolify_fake.set_start_outcome(first.service_uuid, "exited")
    started = coolify_clock()
    with pytest.raises(StackFailedError, match="started, then exited") as caught:
        await resume(make_ctx(), "acme", "bot")
    assert coolify_clock() - started < 10
    assert "activity" in caught.value.message
    record = await stack_record(pb)
    assert record["status"] == "failed" and "started, then exited" in str(record["last_error"])
    assert (await actions(pb)).count("resume.failed") == 1


async def test_an_exit_seen_later_by_status_fails_the_stack(
    make_ctx: ContextFactory, acme: str, coolify_fake: FakeCoolify, coolify_clock: FakeClock, pb: PocketBase
) -> None:
    """The status poller's view: 'exited' well after a queued start (no 'starting' seen) is a failure."""
    result = await provision(make_ctx(), REQUEST.model_copy(update={"wait": False}))
    coolify_fake.set_status(result.service_uuid, "exited")
    later = datetime.now(UTC) + timedelta(seconds=30)
    (shown,) = (await status(make_ctx(wall=lambda: later), "acme")).stacks
    assert shown.status == "failed" and "started, then exited" in shown.last_error


async def test_a_start_that_just_needs_time_is_not_failed(
    make_ctx: ContextFactory, acme: str, coolify_fake: FakeCoolify, pb: PocketBase
) -> None:
    """Right after the start was queued Coolify may still say 'exited': that is not yet a failure."""
    result = await provision(make_ctx(), REQUEST.model_copy(update={"wait": False}))
    coolify_fake.set_status(result.service_uuid, "exited")
    (shown,) = (await status(make_ctx(), "acme")).stacks
    assert shown.status == "provisioning"


async def test_a_failed_suspend_leaves_the_stack_recorded_as_running(
    make_ctx: ContextFactory, acme: str, coolify_fake: FakeCoolify, pb: PocketBase
) -> None:
    """A suspend Coolify refuses (bad token) records the intent and the error, but the status stays
    what was observed: running (so the monitor keeps watching it)."""
    await provision(make_ctx(), REQUEST)
    coolify_fake.tokens.clear()
    with pytest.raises(AuthError):
        await suspend(make_ctx(), "acme", "bot")
    record = await stack_record(pb)
    assert (record["desired_state"], record["status"]) == ("suspended", "running")
    assert "token was rejected" in str(record["last_error"])
