"""Tests for monitor.detectors.deaths: why a container died."""

from __future__ import annotations

from monitor.detectors.deaths import DeathCause, classify_death, event_exit_code, stops_container
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


def test_without_a_snapshot_the_event_exit_code_decides() -> None:
    """A container removed before inspect: the die event's code; none at all is unknown."""
    assert classify(None) is DeathCause.UNKNOWN
    assert (
        classify_death(
            None, died_at=T0, kill_intent_at=None, oom_at=None, intent_window=300, oom_window=1, exit_code=3
        )
        is DeathCause.CRASH
    )
    assert (
        classify_death(
            None, died_at=T0, kill_intent_at=T0 - 1, oom_at=None, intent_window=300, oom_window=1, exit_code=3
        )
        is DeathCause.OPERATOR
    )


def test_only_signals_that_stop_the_container_are_an_intent() -> None:
    """TERM, KILL, INT and the container's own StopSignal stop it; HUP or USR1 do not."""
    assert stops_container("15", stop_signal=None, spoofable=False)
    assert stops_container("9", stop_signal=None, spoofable=False)
    assert stops_container("SIGINT", stop_signal=None, spoofable=False)
    assert not stops_container("1", stop_signal=None, spoofable=False)
    assert not stops_container("10", stop_signal=None, spoofable=False)
    assert stops_container("3", stop_signal="SIGQUIT", spoofable=False)


def test_a_label_that_may_overwrite_the_attribute_makes_it_untrusted() -> None:
    """Labels overwrite event attributes: a label named signal or exitCode hides the real value."""
    assert stops_container("1", stop_signal=None, spoofable=True)
    assert stops_container(None, stop_signal=None, spoofable=False)
    assert event_exit_code({"exitCode": "3"}, {"cf.tenant": "acme"}) == 3
    assert event_exit_code({"exitCode": "0"}, {"exitCode": "0"}) is None
    assert event_exit_code({"exitCode": "3"}, None) == 3
