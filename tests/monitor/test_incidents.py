"""Tests for monitor.incidents: one incident per fingerprint, dedup, flaps, repeats."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.findings import Kind, Severity
from monitor.incidents import IncidentBook, IncidentStore
from monitor.store import Database
from tests.monitor.fakes import T0, finding


@pytest.fixture
def store(tmp_path: Path) -> Iterator[IncidentStore]:
    db = Database(tmp_path / "m.db")
    yield IncidentStore(db)
    db.close()


def book(store: IncidentStore, *, hold: float = 0.0, repeat: float = 3600.0) -> IncidentBook:
    return IncidentBook(store, host="h1", resolve_hold=hold, repeat_interval=repeat)


def never(container_id: str) -> bool:
    return False


def test_first_finding_opens_an_incident_and_repeats_are_deduplicated(store: IncidentStore) -> None:
    """One firing notice; the same condition again only counts an occurrence."""
    b = book(store)
    [notice] = b.apply(finding(marker="death-1"), T0)
    assert notice.type == "firing" and notice.incident.state == "firing"
    assert b.apply(finding(marker="death-2"), T0 + 1) == []
    [incident] = store.firing()
    assert incident.occurrences == 2 and incident.marker == "death-2"
    assert incident.fingerprint == "h1|acme|bot|cf-acme-bot|oom-killed"


def test_an_occurrence_seen_before_changes_nothing_even_after_resolve(store: IncidentStore) -> None:
    """A replayed event or re-check with a known marker does not reopen a resolved incident."""
    b = book(store)
    b.apply(finding(marker="death-1"), T0)
    [incident] = store.firing()
    [resolved] = b.resolve(incident, "recovered", T0 + 5)
    assert resolved.type == "resolved"
    assert b.apply(finding(marker="death-1"), T0 + 6) == []
    [reopened] = b.apply(finding(marker="death-2"), T0 + 7)
    assert reopened.type == "firing" and reopened.incident.id != incident.id


def test_higher_severity_escalates_and_lower_does_not_page(store: IncidentStore) -> None:
    """warning → critical is an escalation notice; critical → warning is silent."""
    b = book(store)
    b.apply(finding(Kind.DISK_PRESSURE, severity=Severity.WARNING), T0)
    [escalated] = b.apply(finding(Kind.DISK_PRESSURE, severity=Severity.CRITICAL), T0 + 1)
    assert escalated.type == "escalated"
    assert b.apply(finding(Kind.DISK_PRESSURE, severity=Severity.WARNING), T0 + 2) == []


def test_a_resolve_is_held_and_a_flap_cancels_it_silently(store: IncidentStore) -> None:
    """Firing again within the hold cancels the pending resolve: no resolved notice, no new page."""
    b = book(store, hold=60)
    b.apply(finding(Kind.CONTAINER_UNHEALTHY), T0)
    [incident] = store.firing()
    store.save(incident.model_copy(update={"notified_at": T0, "notifications": 1}))
    assert b.apply(finding(Kind.CONTAINER_UNHEALTHY, firing=False, reason="ok"), T0 + 1) == []
    assert b.due(T0 + 30, is_running=never, stream_up=True) == []
    assert b.apply(finding(Kind.CONTAINER_UNHEALTHY), T0 + 40) == []
    assert b.due(T0 + 200, is_running=never, stream_up=True) == []
    b.apply(finding(Kind.CONTAINER_UNHEALTHY, firing=False, reason="ok"), T0 + 300)
    assert b.due(T0 + 359, is_running=never, stream_up=True) == []
    [resolved] = b.due(T0 + 361, is_running=never, stream_up=True)
    assert resolved.type == "resolved" and resolved.incident.resolve_reason == "ok"


def test_unpaged_incidents_are_offered_again_and_paged_ones_repeat(store: IncidentStore) -> None:
    """due() re-offers incidents never paged (held by a silence) and repeats after the interval."""
    b = book(store, repeat=100)
    b.apply(finding(), T0)
    assert [n.type for n in b.due(T0 + 1, is_running=never, stream_up=True)] == ["firing"]
    [incident] = store.firing()
    store.save(incident.model_copy(update={"notified_at": T0 + 1, "notifications": 1}))
    assert b.due(T0 + 50, is_running=never, stream_up=True) == []
    assert [n.type for n in b.due(T0 + 102, is_running=never, stream_up=True)] == ["repeat"]


def test_a_resolve_about_an_older_container_of_the_same_name_is_ignored(store: IncidentStore) -> None:
    """After a redeploy (new id, same name) the old container's removal does not close the new incident."""
    b = book(store)
    b.apply(finding(container_id="new"), T0)
    assert b.apply(finding(container_id="old", firing=False, reason="removed"), T0 + 1) == []
    assert store.firing()


def test_incidents_survive_reopening_the_database(tmp_path: Path) -> None:
    """State is in SQLite: a new process sees the firing incident and its page count."""
    db = Database(tmp_path / "m.db")
    b = book(IncidentStore(db))
    b.apply(finding(), T0)
    db.close()
    db = Database(tmp_path / "m.db")
    try:
        [incident] = IncidentStore(db).firing()
        assert incident.kind is Kind.OOM_KILLED and incident.evidence == {"exit_code": 137}
        assert book(IncidentStore(db)).apply(finding(), T0 + 1) == []
    finally:
        db.close()


def test_resolved_incidents_are_pruned_and_mirroring_holds_them_back(store: IncidentStore) -> None:
    """Old resolved incidents go; with a mirror, only those already mirrored."""
    b = book(store)
    b.apply(finding(), T0)
    [incident] = store.firing()
    b.resolve(incident, "gone", T0 + 1)
    assert store.prune(T0 + 2, mirrored_only=True) == 0
    assert store.prune(T0 + 1, mirrored_only=False) == 0
    assert store.prune(T0 + 2, mirrored_only=False) == 1
    assert store.all() == []


def test_time_ends_recovered_containers_and_a_stable_stream_and_removals_end_quietly(
    store: IncidentStore,
) -> None:
    """After the recovery time a crash resolves only if its container runs; a gap ends without a notice;
    a vanished container's incident ends at once without one."""
    b = book(store)
    b.recovery = 600
    b.apply(finding(Kind.CONTAINER_CRASHED, container_id="c1", subject="a"), T0)
    b.apply(finding(Kind.OOM_KILLED, container_id="c2", subject="b"), T0)
    b.apply(finding(Kind.MONITOR_GAP, container_id=None, subject="docker-events"), T0)
    for incident in store.firing():
        store.mark_paged(incident, T0)
    running = {"c1": True, "c2": False}
    notices = b.due(T0 + 601, is_running=lambda cid: running[cid], stream_up=True)
    assert [(n.type, n.incident.container_id) for n in notices] == [("resolved", "c1")]
    assert {i.kind for i in store.firing()} == {Kind.OOM_KILLED}
    b.close_absent(containers=set(), now=T0 + 700)
    assert store.firing() == []
