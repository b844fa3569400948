"""Tests for monitor.dispatch: policy, rendering and grouping of notices, atomically with the incident."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from monitor.directory import StackRecord, StaticDirectory
from monitor.dispatch import Dispatcher
from monitor.findings import Kind
from monitor.grouping import Grouper
from monitor.incidents import IncidentBook, IncidentStore
from monitor.metrics import MonitorMetrics
from monitor.outbox import Outbox
from monitor.policy import Policy
from monitor.silences import SilenceStore
from monitor.store import Database
from tests.monitor.fakes import T0, finding


@dataclass
class Parts:
    book: IncidentBook
    store: IncidentStore
    outbox: Outbox
    silences: SilenceStore
    dispatcher: Dispatcher
    directory: StaticDirectory


@pytest.fixture
def parts(tmp_path: Path) -> Iterator[Parts]:
    db = Database(tmp_path / "m.db")
    store, outbox, silences = IncidentStore(db), Outbox(db), SilenceStore(db)
    directory = StaticDirectory([StackRecord(tenant="acme", stack="bot")])
    grouper = Grouper(outbox, window=0, host="h", runbook_base="https://x/")
    dispatcher = Dispatcher(
        store, Policy(silences, directory), grouper, MonitorMetrics(), runbook_base="https://x/"
    )
    book = IncidentBook(store, host="h", resolve_hold=0, repeat_interval=3600)
    yield Parts(book, store, outbox, silences, dispatcher, directory)
    db.close()


def test_a_page_is_queued_and_the_incident_marked_paged(parts: Parts) -> None:
    """The outbox row and the incident's page count are written together."""
    assert parts.dispatcher.submit(parts.book.apply(finding(), T0), T0) == 1
    [incident] = parts.store.firing()
    assert (incident.notifications, incident.notified_at, incident.suppressed) == (1, T0, None)
    assert parts.outbox.pending()["ready"] == 1


def test_a_silenced_page_is_held_and_sent_when_the_silence_ends(parts: Parts) -> None:
    """Suppressed: recorded on the incident, nothing queued; re-offered by due() after expiry."""
    parts.silences.add(tenant="acme", stack=None, kind=None, now=T0, duration=60, reason="r", created_by="me")
    assert parts.dispatcher.submit(parts.book.apply(finding(), T0), T0) == 0
    [incident] = parts.store.firing()
    assert incident.notifications == 0 and incident.suppressed is not None
    assert parts.outbox.pending()["ready"] == 0
    assert parts.dispatcher.submit(parts.book.due(T0 + 30), T0 + 30) == 0
    assert parts.dispatcher.submit(parts.book.due(T0 + 61), T0 + 61) == 1


def test_resolved_notices_only_follow_pages_that_were_sent(parts: Parts) -> None:
    """An incident never paged (its stack is being deleted) resolves without a message."""
    parts.directory.replace(
        [StackRecord(tenant="acme", stack="bot", desired_state="deleted", status="deleted")]
    )
    parts.dispatcher.submit(parts.book.apply(finding(), T0), T0)
    [incident] = parts.store.firing()
    assert parts.dispatcher.submit(parts.book.resolve(incident, "removed", T0 + 1), T0 + 1) == 0
    assert parts.outbox.pending()["ready"] == 0


def test_gap_incidents_end_without_a_message(parts: Parts) -> None:
    """monitor-gap is reported once; its end is not worth a page."""
    parts.dispatcher.submit(parts.book.apply(finding(Kind.MONITOR_GAP), T0), T0)
    [incident] = parts.store.firing()
    assert parts.dispatcher.submit(parts.book.resolve(incident, "stable", T0 + 1), T0 + 1) == 0
    assert parts.outbox.pending()["ready"] == 1
