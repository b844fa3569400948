"""Tests for monitor.units: sizes and durations in alert text and the CLI."""

from __future__ import annotations

import pytest

from monitor.units import human_bytes, human_duration, parse_duration


def test_bytes_are_shown_in_binary_units() -> None:
    """16 MiB limits read as such; small values keep one decimal."""
    assert human_bytes(16 * 1024 * 1024) == "16 MiB"
    assert human_bytes(256 * 1024 * 1024) == "256 MiB"
    assert human_bytes(1536) == "1.5 KiB"
    assert human_bytes(12) == "12 B"


def test_durations_read_naturally() -> None:
    """Seconds, minutes, hours and days."""
    assert human_duration(8.4) == "8.4 s"
    assert human_duration(600) == "10 min"
    assert human_duration(5400) == "1 h 30 min"
    assert human_duration(3 * 86400) == "3 d"


@pytest.mark.parametrize(
    ("text", "seconds"), [("2h", 7200), ("30m", 1800), ("1h30m", 5400), ("1d", 86400), ("90s", 90)]
)
def test_durations_parse(text: str, seconds: float) -> None:
    """The CLI's --for values."""
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "2", "two hours", "h", "-1h"])
def test_bad_durations_are_rejected(text: str) -> None:
    """Anything that is not a duration raises ValueError."""
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)
