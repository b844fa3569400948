"""PocketBase mirroring and the PocketBase stack directory, against a real PocketBase (kept minimal:
the monitor's core works without PocketBase)."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.attribution import attribute
from monitor.incidents import IncidentBook, IncidentStore
from monitor.pb_directory import PocketBaseDirectory
from monitor.pb_mirror import IncidentMirror
from monitor.pb_schema import INCIDENTS_COLLECTION
from monitor.store import Database
from shared.pocketbase.client import PocketBase
from shared.pocketbase.filters import pb_filter
from tests.monitor.fakes import T0, finding

pytestmark = pytest.mark.anyio


async def test_incidents_are_mirrored_and_updated_by_incident_id(pb: PocketBase, tmp_path: Path) -> None:
    """The migrated collection takes our records; a later state change updates the same record."""
    collection = await pb.get_collection("incidents")
    assert collection is not None
    assert {f["name"] for f in collection["fields"]} >= {f["name"] for f in INCIDENTS_COLLECTION["fields"]}
    db = Database(tmp_path / "m.db")
    store = IncidentStore(db)
    book = IncidentBook(store, host="h1", resolve_hold=0, repeat_interval=3600)
    mirror = IncidentMirror(pb, "https://x/")
    book.apply(finding(), T0)
    pending = store.unmirrored()
    for incident in await mirror.push(pending):
        store.mark_mirrored(incident)
    assert store.unmirrored() == []
    [incident] = store.firing()
    book.resolve(incident, "recovered", T0 + 60)
    for updated in await mirror.push(store.unmirrored()):
        store.mark_mirrored(updated)
    [record] = await pb.list_records("incidents", filter=pb_filter("incident_id = {:id}", id=incident.id))
    assert (record["state"], record["tenant"], record["kind"]) == ("resolved", "acme", "oom-killed")
    assert record["resolve_reason"] == "recovered" and record["runbook"] == "https://x/runbooks/oom-killed.md"
    db.close()


async def test_directory_reads_stacks_and_suspends_with_the_tenant(pb: PocketBase) -> None:
    """Service uuid → tenant/stack/template/plan; a suspended tenant suspends its stacks."""
    tenant = await pb.create_record(
        "tenants", {"slug": "acme", "name": "Acme", "plan": "team", "status": "active"}
    )
    await pb.create_record(
        "stacks",
        {
            "tenant": tenant["id"],
            "name": "bot",
            "template": "telegram-bot",
            "desired_state": "running",
            "status": "running",
            "coolify_service_uuid": "svc-uuid-1",
        },
    )
    directory = PocketBaseDirectory(pb)
    await directory.refresh()
    found = attribute({"com.docker.compose.project": "svc-uuid-1"}, directory)
    assert (found.tenant, found.stack, found.template, found.plan) == ("acme", "bot", "telegram-bot", "team")
    record = directory.get("acme", "bot")
    assert record is not None and record.desired_state == "running"
    await pb.update_record("tenants", tenant["id"], {"status": "suspended"})
    await directory.refresh()
    record = directory.get("acme", "bot")
    assert record is not None and record.desired_state == "suspended"
