"""The reconciler: two Coolify list calls per pass, drift repaired through the handlers, orphans
reported once each and never deleted."""

from __future__ import annotations

import pytest

from functions.dispatch import Dispatcher
from functions.operations.provision import ProvisionRequest, provision
from functions.operations.suspend import suspend
from functions.operations.tenants import create_tenant
from functions.runtime import Runtime
from functions.sources.reconciler import Reconciler
from shared.pocketbase.client import PocketBase
from tests.fakes.clock import FakeClock
from tests.fakes.coolify import FakeCoolify
from tests.functions.conftest import BOT_PARAMS, ContextFactory, records
from tests.monitor.support import Sink

pytestmark = pytest.mark.anyio


async def bot(make_ctx: ContextFactory, name: str) -> str:
    result = await provision(
        make_ctx(), ProvisionRequest(tenant="acme", template="telegram-bot", stack=name, params=BOT_PARAMS)
    )
    return result.service_uuid


async def test_a_pass_costs_two_coolify_calls_whatever_the_number_of_stacks(
    runtime: tuple[Runtime, Dispatcher], make_ctx: ContextFactory, acme: str
) -> None:
    """GET /services and GET /projects, once each; nothing to repair when all is as desired."""
    rt, _ = runtime
    for name in ("one", "two"):
        await bot(make_ctx, name)
    report = await Reconciler(rt).reconcile_once()
    assert (report.stacks, report.coolify_calls, report.drift, report.orphans) == (2, 2, {}, [])


async def test_drift_is_repaired_and_orphans_are_reported_once(
    runtime: tuple[Runtime, Dispatcher],
    make_ctx: ContextFactory,
    coolify_fake: FakeCoolify,
    coolify_clock: FakeClock,
    pb: PocketBase,
    sink: Sink,
) -> None:
    """A running stack whose service vanished is reported and provisioned again; a suspended stack
    whose service runs is stopped; a stopped service of a running stack is started; a cf-* service and
    project nobody knows are reported once, twice-run, and left alone."""
    rt, dispatcher = runtime
    await create_tenant(make_ctx(), "acme", plan="team")
    gone = await bot(make_ctx, "gone")
    suspended = await bot(make_ctx, "quiet")
    stopped = await bot(make_ctx, "stopped")
    await suspend(make_ctx(), "acme", "quiet")
    del coolify_fake.state.services[gone]
    coolify_fake.set_status(suspended, "running:healthy")
    coolify_fake.set_status(stopped, "exited")
    async with coolify_fake.client() as http:
        project = (await http.post("/projects", json={"name": "cf-stranger"})).json()["uuid"]
    reconciler = Reconciler(rt)

    report = await reconciler.reconcile_once()
    await dispatcher.wait_idle()
    coolify_clock.advance(10)
    assert report.drift == {"service_missing": 1, "running_while_suspended": 1, "stopped": 1}
    assert report.coolify_calls == 2
    assert sorted(k.split(":")[0] for k in report.reported) == ["project", "record"]
    (recreated,) = coolify_fake.services_named("cf-acme-gone")
    assert recreated.uuid != gone
    assert coolify_fake.service(suspended).stops == 2 and coolify_fake.service(stopped).starts == 2

    again = await reconciler.reconcile_once()
    await rt.alerter.flush()
    assert again.reported == []
    assert project in coolify_fake.state.projects  # never deleted
    orphans = [e for e in await records(pb, "audit_events") if e["action"] == "reconcile.orphan_found"]
    assert len(orphans) == 2
    assert len(sink.matching("orphan found by the reconciler")) == 2
