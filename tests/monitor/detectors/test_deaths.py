"""Tests for monitor.detectors.deaths: why a container died."""

from __future__ import annotations

from monitor.detectors.deaths import DeathCause, classify_death
from tests.monitor.fakes import T0, snapshot


def classify(snap: object = None, *, intent: float | None = None, oom: float | None = None) -> DeathCause:
    return classify_death(
        snap,  # type: ignore[arg-type]
        died_at=T0,
        kill_intent_at=intent,
        oom_at=oom,
        intent_window=300.0,
        oom_window=1.0,
    )


def test_a_kill_before_the_death_is_an_operator_stop_even_with_exit_137() -> None:
    """`docker stop` ending in SIGKILL: exit 137 without OOMKilled is the operator, never OOM."""
    assert classify(snapshot(exit_code=137), intent=T0 - 10) is DeathCause.OPERATOR


def test_an_oom_event_just_before_the_death_is_an_oom_kill() -> None:
    """`oom` then `die` within the window, even before inspect says so."""
    assert classify(snapshot(exit_code=137), oom=T0 - 0.06) is DeathCause.OOM


def test_inspect_oom_flag_alone_is_an_oom_kill() -> None:
    """State.OOMKilled marks it even when the oom event was not seen (a gap)."""
    assert classify(snapshot(exit_code=137, oom_killed=True)) is DeathCause.OOM


def test_exit_137_alone_is_a_crash_not_an_oom() -> None:
    """Without an oom event or OOMKilled, 137 is a crash (something killed it)."""
    assert classify(snapshot(exit_code=137)) is DeathCause.CRASH


def test_stale_intents_and_ooms_do_not_count() -> None:
    """An intent or oom outside its window says nothing about this death."""
    assert classify(snapshot(exit_code=1), intent=T0 - 301, oom=T0 - 5) is DeathCause.CRASH


def test_clean_exit_and_uninspectable_death() -> None:
    """Exit 0 is clean; a container gone before inspect is unknown."""
    assert classify(snapshot(exit_code=0)) is DeathCause.CLEAN
    assert classify(None) is DeathCause.UNKNOWN
