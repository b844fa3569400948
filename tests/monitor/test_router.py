"""Tests for monitor.router: events → detection → incidents → queued messages, with fakes (no Docker)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from monitor.alerts import Alerts
from monitor.detection import Detection, DetectionSettings
from monitor.directory import StaticDirectory
from monitor.events import DiskUsageMeasured, MonitorEvent, RecheckRequested, StreamConnected, TimerFired
from monitor.incidents import IncidentBook, IncidentStore
from monitor.metrics import MonitorMetrics
from monitor.outbox import Outbox
from monitor.policy import Policy
from monitor.router import Router
from monitor.silences import SilenceStore
from monitor.store import Database
from tests.monitor.fakes import T0, FakeInspector, event, sent_titles, snapshot

pytestmark = pytest.mark.anyio
CID = "c" * 64


@dataclass
class Rig:
    router: Router
    inspector: FakeInspector
    outbox: Outbox
    store: IncidentStore
    requested: list[tuple[MonitorEvent, float]] = field(default_factory=list)
    connected: list[bool] = field(default_factory=lambda: [True])

    def titles(self) -> list[str]:
        return sent_titles(self.outbox)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    db = Database(tmp_path / "m.db")
    store = IncidentStore(db)
    directory = StaticDirectory()
    inspector = FakeInspector()
    book = IncidentBook(store, host="h", resolve_hold=0, repeat_interval=3600, recovery=600)
    metrics = MonitorMetrics()
    alerts = Alerts(
        db, Policy(SilenceStore(db), directory), metrics, host="h", window=0, runbook_base="https://x/"
    )
    rig = Rig(router=None, inspector=inspector, outbox=alerts.outbox, store=store)  # type: ignore[arg-type]
    rig.router = Router(
        detection=Detection(inspector, directory, DetectionSettings(gap_report=0.5)),
        book=book,
        alerts=alerts,
        metrics=metrics,
        clock=lambda: T0 + 1000,
        wake=lambda: None,
        stream_up=lambda: rig.connected[-1],
        schedule=lambda event, delay: rig.requested.append((event, delay)),
        first_since_ns=int(T0 * 1e9),
    )
    yield rig
    db.close()


async def test_a_reconnect_after_a_gap_pages_the_gap_and_requests_a_recheck_from_the_loss(rig: Rig) -> None:
    """The gap is one warning; the re-check judges deaths since the last event before the loss."""
    await rig.router.handle(StreamConnected(at=T0 + 20, since_ns=int(T0 * 1e9), lost_at=T0 + 10))
    assert rig.titles() == ["[WARNING] Monitor gap — host h"]
    [(fact, delay)] = rig.requested
    assert fact == RecheckRequested(reason="reconnect", since_ns=int(T0 * 1e9)) and delay > 0


async def test_an_oom_incident_resolves_once_the_container_has_run_for_the_recovery_time(rig: Rig) -> None:
    """Event incidents have no 'recovered' event: the timer resolves them when the container keeps running."""
    rig.inspector.states[CID] = snapshot(exit_code=137, oom_killed=True)
    await rig.router.handle(event("oom", T0))
    await rig.router.handle(event("die", T0 + 0.05))
    assert rig.titles() == ["[CRITICAL] OOM killed — tenant acme / stack bot"]
    later = T0 + 1000 + 601  # the incident was last seen at the clock's T0 + 1000; recovery is 600 s
    await rig.router.handle(TimerFired(at=later))
    assert rig.titles() == [], "still exited: stays firing"
    rig.inspector.states[CID] = snapshot(running=True, status="running", started_at_ns=int((T0 + 1) * 1e9))
    await rig.router.handle(event("start", T0 + 1))
    await rig.router.handle(TimerFired(at=later))
    assert rig.titles() == ["[RESOLVED] OOM killed — tenant acme / stack bot"]


async def test_a_recheck_ends_incidents_of_containers_that_vanished_without_a_message(rig: Rig) -> None:
    """An incident bound to a container that no longer exists ends with the re-check; a removal is not a
    recovery, so no "[RESOLVED]" is sent, and the record keeps why it ended."""
    rig.inspector.states[CID] = snapshot(exit_code=3)
    await rig.router.handle(event("die", T0))
    assert rig.titles() == ["[CRITICAL] Container crashed — tenant acme / stack bot"]
    rig.inspector.states.clear()
    await rig.router.handle(RecheckRequested(reason="periodic"))
    assert rig.titles() == []
    assert rig.store.firing() == []
    [ended] = rig.store.all()
    assert (ended.state, ended.resolve_reason) == ("resolved", "the container was removed")


async def test_disk_measurements_open_and_close_a_host_incident(rig: Rig) -> None:
    """Disk measurements go through detection (hysteresis without an incident look-up) to incidents."""
    full = DiskUsageMeasured(path="/data", total_bytes=100, used_bytes=95, free_bytes=5)
    fine = DiskUsageMeasured(path="/data", total_bytes=100, used_bytes=10, free_bytes=90)
    await rig.router.handle(full)
    await rig.router.handle(full)
    await rig.router.handle(fine)
    assert rig.titles() == [
        "[CRITICAL] Disk pressure — host h — /data",
        "[RESOLVED] Disk pressure — host h — /data",
    ]


async def test_a_recheck_that_finds_docker_down_is_covered_by_the_next_one(rig: Rig) -> None:
    """Deaths in a gap are judged by the next successful re-check, even a periodic (state-only) one."""
    await rig.router.handle(StreamConnected(at=T0 + 20, since_ns=int((T0 - 5) * 1e9), lost_at=T0 + 10))
    rig.titles()
    rig.inspector.states[CID] = snapshot(exit_code=3, finished_at_ns=int(T0 * 1e9))
    rig.inspector.down = True
    await rig.router.handle(RecheckRequested(reason="reconnect", since_ns=int((T0 - 5) * 1e9)))
    assert rig.titles() == [] and rig.router.unjudged_since_ns == int((T0 - 5) * 1e9)
    rig.inspector.down = False
    await rig.router.handle(RecheckRequested(reason="periodic"))
    assert rig.titles() == ["[CRITICAL] Container crashed — tenant acme / stack bot"]
    assert rig.router.unjudged_since_ns is None


async def test_a_death_after_the_stream_connected_is_left_to_its_own_events(rig: Rig) -> None:
    """The re-check after a connect judges only deaths before it: a container stopped just after the
    monitor started is not paged as a crash when the re-check runs before the stop's events arrive."""
    await rig.router.handle(StreamConnected(at=T0 + 1, since_ns=None))
    [(recheck, _)] = rig.requested
    rig.inspector.states[CID] = snapshot(exit_code=137, finished_at_ns=int((T0 + 2) * 1e9))
    await rig.router.handle(recheck)
    assert rig.titles() == []
    await rig.router.handle(event("kill", T0 + 1.5, signal="15"))
    await rig.router.handle(event("die", T0 + 2, exitCode="137"))
    assert rig.titles() == []


async def test_a_death_before_the_stream_connected_is_judged_by_the_recheck(rig: Rig) -> None:
    """A crash between the monitor's start window and the connection has no event of its own: paged."""
    await rig.router.handle(StreamConnected(at=T0 + 1, since_ns=None))
    [(recheck, _)] = rig.requested
    rig.inspector.states[CID] = snapshot(exit_code=137, finished_at_ns=int((T0 + 0.5) * 1e9))
    await rig.router.handle(recheck)
    assert rig.titles() == ["[CRITICAL] Container crashed — tenant acme / stack bot"]
