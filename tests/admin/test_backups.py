"""Back up now and Restore in the admin pages: checked at once (a refusal shows, nothing changes), run in
the background as the operator, on the real Docker engine with a real restic repository."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from shared.pocketbase.client import PocketBase
from tests.admin.conftest import OPERATOR, make_console
from tests.docker_fixture import DockerEngine
from tests.fakes.coolify import FakeCoolify
from tests.functions.backups.conftest import (
    _restic_template,
    backup_settings,
    fingerprint,
    provision_stateful,
    restic_repo,
)
from tests.functions.conftest import ContextFactory

__all__ = ["_restic_template", "restic_repo"]

pytestmark = pytest.mark.anyio

ACTOR = f"operator:{OPERATOR}"


async def eventually(check: Callable[[], Awaitable[Any]], what: str) -> Any:
    """Poll PocketBase (what the background work writes to) for up to a minute."""
    for _ in range(300):
        if found := await check():
            return found
        await anyio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


async def _stack(pb: PocketBase) -> dict[str, Any]:
    (stack,) = await pb.list_records("stacks")
    return stack


async def _audited(pb: PocketBase, action: str) -> list[dict[str, Any]]:
    return [e for e in await pb.list_records("audit_events") if e["action"] == action]


async def test_back_up_now_then_restore_from_the_admin_pages(
    make_ctx: ContextFactory,
    pb: PocketBase,
    operator: str,
    docker_engine: DockerEngine,
    restic_repo: Path,
    coolify_fake: FakeCoolify,
) -> None:
    settings: dict[str, Any] = backup_settings(restic_repo, docker_engine)
    stack = await provision_stateful(make_ctx(**settings), docker_engine)
    mount = {stack.volume: {"bind": "/v", "mode": "rw"}}
    assert docker_engine.sh("echo kept > /v/note", mount)[0] == 0
    before = fingerprint(docker_engine, stack.volume)
    # The admin pages wait on the real clock (cfa serve's), so the fake's stops and starts settle at once.
    coolify_fake.state.transition_delay = 0.0

    async with make_console(make_ctx, pb, **settings) as console:
        await console.sign_in()
        page = (await console.http.get("/admin/tenants/globex")).text
        assert "none yet" in page and 'action="/admin/tenants/globex/stacks/agent/backup"' in page

        backed = await console.post("/admin/tenants/globex/stacks/agent/backup")
        assert backed.status_code == 303
        record = await eventually(lambda: _snapshot_recorded(pb), "the backup to be recorded on the stack")
        assert [e["actor"] for e in await _audited(pb, "backup.requested")] == [ACTOR]
        assert record["last_backup_snapshot"] in (await console.http.get("/admin/tenants/globex")).text

        assert docker_engine.sh("echo lost > /v/note", mount)[0] == 0
        form = (await console.http.get("/admin/tenants/globex/stacks/agent/restore")).text
        assert f'value="{record["last_backup_snapshot"]}"' in form
        unconfirmed = await console.post(
            "/admin/tenants/globex/stacks/agent/restore",
            {"snapshot": record["last_backup_snapshot"], "confirm_name": "agnet"},
        )
        assert unconfirmed.status_code == 400 and "to confirm" in unconfirmed.text
        assert await _audited(pb, "backup.restore_requested") == []

        restored = await console.post(
            "/admin/tenants/globex/stacks/agent/restore",
            {"snapshot": record["last_backup_snapshot"], "confirm_name": "agent"},
        )
        assert restored.status_code == 303
        await eventually(lambda: _audited(pb, "backup.restore_started"), "the restore to start the stack")

    assert fingerprint(docker_engine, stack.volume) == before
    assert [e["actor"] for e in await _audited(pb, "backup.restore_requested")] == [ACTOR]
    assert (await _stack(pb))["status"] in ("resuming", "running")


async def _snapshot_recorded(pb: PocketBase) -> dict[str, Any] | None:
    stack = await _stack(pb)
    return stack if stack["last_backup_snapshot"] else None


async def test_a_refused_backup_or_restore_shows_why_and_changes_nothing(
    make_ctx: ContextFactory, pb: PocketBase, operator: str, docker_engine: DockerEngine, restic_repo: Path
) -> None:
    settings: dict[str, Any] = backup_settings(restic_repo, docker_engine)
    await provision_stateful(make_ctx(**settings), docker_engine)

    async with make_console(make_ctx, pb, **settings) as console:
        await console.sign_in()
        other = await console.post(
            "/admin/tenants/globex/stacks/agent/restore", {"snapshot": "deadbeef", "confirm_name": "agent"}
        )
    async with make_console(make_ctx, pb) as unconfigured:  # no repository
        await unconfigured.sign_in()
        off = await unconfigured.post("/admin/tenants/globex/stacks/agent/backup")

    assert other.status_code == 404 and "no snapshot deadbeef" in other.text
    assert off.status_code == 500 and "CFA_BACKUP_REPOSITORY" in off.text
    assert (
        await _audited(pb, "backup.requested") == [] and await _audited(pb, "backup.restore_requested") == []
    )
    assert (await _stack(pb))["status"] == "running"
