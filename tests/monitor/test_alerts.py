"""Tests for monitor.alerts: policy → render → group → outbox behind submit() and tick()."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from monitor.alerts import Alerts
from monitor.directory import StackRecord, StaticDirectory
from monitor.findings import Kind
from monitor.incidents import IncidentBook, IncidentStore, Notice
from monitor.metrics import MonitorMetrics
from monitor.outbox import Outbox
from monitor.policy import Policy
from monitor.silences import SilenceStore
from monitor.store import Database
from tests.monitor.fakes import T0, finding, incident, sent_titles


@dataclass
class Parts:
    db: Database
    book: IncidentBook
    store: IncidentStore
    outbox: Outbox
    silences: SilenceStore
    directory: StaticDirectory

    def alerts(self, window: float = 0) -> Alerts:
        policy = Policy(self.silences, self.directory)
        return Alerts(self.db, policy, MonitorMetrics(), host="h1", window=window, runbook_base="https://x/")

    def titles(self) -> list[str]:
        return sent_titles(self.outbox)


@pytest.fixture
def parts(tmp_path: Path) -> Iterator[Parts]:
    db = Database(tmp_path / "m.db")
    store = IncidentStore(db)
    book = IncidentBook(store, host="h", resolve_hold=0, repeat_interval=3600)
    directory = StaticDirectory([StackRecord(tenant="acme", stack="bot")])
    yield Parts(db, book, store, Outbox(db), SilenceStore(db), directory)
    db.close()


def never(container_id: str) -> bool:
    return False


def page(n: str) -> list[Notice]:
    return [Notice(type="firing", incident=incident(id=n, subject=f"cf-acme-{n}"))]


def test_a_page_is_queued_and_the_incident_marked_paged(parts: Parts) -> None:
    """The outbox row and the incident's page count are written together."""
    assert parts.alerts().submit(parts.book.apply(finding(), T0), T0) == 1
    [paged] = parts.store.firing()
    assert (paged.notifications, paged.notified_at, paged.suppressed) == (1, T0, None)
    assert parts.outbox.pending()["ready"] == 1


def test_a_silenced_page_is_held_and_sent_when_the_silence_ends(parts: Parts) -> None:
    """Suppressed: recorded on the incident, nothing queued; re-offered by due() after expiry."""
    alerts = parts.alerts()
    parts.silences.add(tenant="acme", stack=None, kind=None, now=T0, duration=60, reason="r", created_by="me")
    assert alerts.submit(parts.book.apply(finding(), T0), T0) == 0
    [held] = parts.store.firing()
    assert held.notifications == 0 and held.suppressed is not None
    assert parts.outbox.pending()["ready"] == 0
    assert alerts.submit(parts.book.due(T0 + 30, is_running=never, stream_up=True), T0 + 30) == 0
    assert alerts.submit(parts.book.due(T0 + 61, is_running=never, stream_up=True), T0 + 61) == 1


def test_resolved_notices_only_follow_pages_that_were_sent(parts: Parts) -> None:
    """An incident never paged (its stack is deleted) resolves without a message."""
    alerts = parts.alerts()
    parts.directory.replace(
        [StackRecord(tenant="acme", stack="bot", desired_state="deleted", status="deleted")]
    )
    alerts.submit(parts.book.apply(finding(), T0), T0)
    [unpaged] = parts.store.firing()
    assert alerts.submit(parts.book.resolve(unpaged, "gone", T0 + 1), T0 + 1) == 0
    assert parts.outbox.pending()["ready"] == 0


def test_the_first_goes_at_once_and_the_burst_is_one_summary(parts: Parts) -> None:
    """Never delay the first page; fold the next ones; send them when the window ends."""
    alerts = parts.alerts(window=10)
    alerts.submit(page("a") + page("b"), T0)
    alerts.submit(page("c"), T0 + 2)
    assert alerts.tick(T0 + 5) is True and parts.outbox.pending() == {"held": 2, "ready": 1}
    parts.titles()
    alerts.tick(T0 + 10)
    assert parts.titles() == ["[CRITICAL] 2 alert(s) on host h1 (grouped)"]


def test_a_quiet_window_ends_the_burst(parts: Parts) -> None:
    """One straggler goes out as itself; after a quiet window the next page is immediate again."""
    alerts = parts.alerts(window=10)
    alerts.submit(page("a") + page("b"), T0)
    alerts.tick(T0 + 10)
    alerts.tick(T0 + 20)
    alerts.submit(page("c"), T0 + 21)
    assert parts.titles() == ["[CRITICAL] OOM killed — tenant acme / stack bot"] * 3


def test_the_window_survives_a_restart(parts: Parts) -> None:
    """The window's end lives in SQLite: a new Alerts (a restarted monitor) keeps holding, then flushes."""
    parts.alerts(window=10).submit(page("a"), T0)
    restarted = parts.alerts(window=10)
    restarted.submit(page("b") + page("c"), T0 + 3)
    assert parts.outbox.pending() == {"held": 2, "ready": 1}
    restarted.tick(T0 + 11)
    assert parts.outbox.pending() == {"held": 0, "ready": 2}


def test_window_zero_sends_everything_at_once(parts: Parts) -> None:
    """Grouping off."""
    assert parts.alerts(window=0).submit(page("a") + page("b") + page("c"), T0) == 3
    assert parts.outbox.pending() == {"held": 0, "ready": 3}


def test_a_gap_ends_without_a_message(parts: Parts) -> None:
    """monitor-gap is reported once; once the stream is stable it ends quietly."""
    alerts = parts.alerts()
    alerts.submit(parts.book.apply(finding(Kind.MONITOR_GAP, container_id=None), T0), T0)
    parts.titles()
    parts.book.recovery = 1
    assert alerts.submit(parts.book.due(T0 + 5, is_running=never, stream_up=True), T0 + 5) == 0
    assert parts.store.firing() == [] and parts.outbox.pending()["ready"] == 0
