"""Tests for monitor.detectors.recheck: what a full re-check finds from state alone."""

from __future__ import annotations

from monitor.detectors.recheck import recheck
from monitor.findings import Kind
from tests.monitor.fakes import ACME_BOT, T0, snapshot

SINCE = int((T0 - 60) * 1e9)


def kinds(snap: object, since: int | None = SINCE) -> list[tuple[Kind, bool]]:
    found = recheck(snap, ACME_BOT, since_ns=since, now=T0, oom_window=600)  # type: ignore[arg-type]
    return [(f.kind, f.firing) for f in found]


def test_an_oom_death_in_the_gap_is_found() -> None:
    """OOMKilled with a finish time after the gap started."""
    assert kinds(snapshot(oom_killed=True, exit_code=137)) == [(Kind.OOM_KILLED, True)]


def test_deaths_before_the_gap_or_without_a_window_are_not_judged() -> None:
    """A death older than since_ns, or a state-only re-check, reports no death."""
    assert kinds(snapshot(oom_killed=True, finished_at_ns=SINCE - 1)) == []
    assert kinds(snapshot(exit_code=3), since=None) == []


def test_stop_signal_exit_codes_are_not_called_crashes_without_events() -> None:
    """137/143 may be an operator stop or a daemon shutdown; exit 3 is a crash."""
    assert kinds(snapshot(exit_code=143)) == []
    assert kinds(snapshot(exit_code=3)) == [(Kind.CONTAINER_CRASHED, True)]


def test_health_state_is_rechecked_both_ways() -> None:
    """Unhealthy fires, healthy resolves, regardless of deaths."""
    assert kinds(snapshot(running=True, health_status="unhealthy"), since=None) == [
        (Kind.CONTAINER_UNHEALTHY, True)
    ]
    assert kinds(snapshot(running=True, health_status="healthy"), since=None) == [
        (Kind.CONTAINER_UNHEALTHY, False)
    ]
