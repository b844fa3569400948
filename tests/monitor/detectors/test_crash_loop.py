"""Tests for monitor.detectors.crash_loop: N deaths in a window."""

from __future__ import annotations

from monitor.detectors.crash_loop import crash_loop
from tests.monitor.fakes import ACME_BOT, T0, snapshot


def loop(deaths: list[float], now: float = T0) -> object:
    return crash_loop(
        name="cf-acme-bot",
        container_id="c",
        snapshot=snapshot(exit_code=1, restart_count=len(deaths)),
        attribution=ACME_BOT,
        deaths=deaths,
        now=now,
        threshold=3,
        window=600,
    )


def test_three_deaths_in_the_window_are_a_loop() -> None:
    """The finding counts the deaths and names the last exit code."""
    found = loop([T0 - 20, T0 - 10, T0])
    assert found is not None
    assert "died 3 times in 10 min (restart count 3); last exit code 1." in found.detail  # type: ignore[attr-defined]


def test_old_deaths_fall_out_of_the_window() -> None:
    """Two recent deaths plus one older than the window are not a loop."""
    assert loop([T0 - 601, T0 - 10, T0]) is None
