"""Tests for monitor.detectors.recheck: what a full re-check finds from state alone."""

from __future__ import annotations

from monitor.detectors.recheck import recheck
from monitor.findings import Kind
from tests.monitor.fakes import ACME_BOT, T0, snapshot

SINCE = int((T0 - 60) * 1e9)


def kinds(snap: object, since: int | None = SINCE, intent: float | None = None) -> list[tuple[Kind, bool]]:
    found = recheck(
        snap,  # type: ignore[arg-type]
        ACME_BOT,
        since_ns=since,
        now=T0,
        loop_window=600,
        kill_intent_at=intent,
        intent_window=300,
        found_by="the re-check after the Docker event stream was lost",
    )
    return [(f.kind, f.firing) for f in found]


def test_an_oom_death_in_the_gap_is_found() -> None:
    """OOMKilled with a finish time after the gap started."""
    assert kinds(snapshot(oom_killed=True, exit_code=137)) == [(Kind.OOM_KILLED, True)]


def test_deaths_before_the_gap_or_without_a_window_are_not_judged() -> None:
    """A death older than since_ns, or a state-only re-check, reports no death."""
    assert kinds(snapshot(oom_killed=True, finished_at_ns=SINCE - 1)) == []
    assert kinds(snapshot(exit_code=3), since=None) == []


def test_a_non_zero_exit_without_a_seen_intent_is_a_crash_whatever_the_code() -> None:
    """130, 137 and 143 are crashes too unless a stopping signal was seen before the death."""
    for code in (3, 130, 137, 143):
        assert kinds(snapshot(exit_code=code)) == [(Kind.CONTAINER_CRASHED, True)], code
    assert kinds(snapshot(exit_code=143), intent=T0 - 5) == []
    assert kinds(snapshot(exit_code=0)) == []


def test_a_crash_found_by_a_recheck_says_so_in_its_evidence() -> None:
    """On-call must see that the death was judged without its events."""
    [found] = recheck(
        snapshot(exit_code=137),
        ACME_BOT,
        since_ns=SINCE,
        now=T0,
        loop_window=600,
        found_by="the re-check after the Docker event stream was lost",
    )
    assert found.evidence["found_by"] == "the re-check after the Docker event stream was lost"
    assert "no stop or kill of it was seen" in found.detail


def test_health_state_is_rechecked_both_ways() -> None:
    """Unhealthy fires, healthy resolves, regardless of deaths."""
    assert kinds(snapshot(running=True, health_status="unhealthy"), since=None) == [
        (Kind.CONTAINER_UNHEALTHY, True)
    ]
    assert kinds(snapshot(running=True, health_status="healthy"), since=None) == [
        (Kind.CONTAINER_UNHEALTHY, False)
    ]
