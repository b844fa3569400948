"""Tests for monitor.detectors.gap: a lost event stream."""

from __future__ import annotations

from monitor.detectors.gap import stream_gap
from monitor.events import StreamConnected
from monitor.findings import Kind, Severity


def test_a_reconnect_after_a_long_enough_loss_is_a_gap() -> None:
    """The warning states how long the stream was lost."""
    found = stream_gap(StreamConnected(at=108.4, since_ns=1, lost_at=100.0), threshold=5)
    assert found is not None and (found.kind, found.severity) == (Kind.MONITOR_GAP, Severity.WARNING)
    assert "lost for 8.4 s" in found.detail


def test_first_connection_and_short_blips_are_not_gaps() -> None:
    """No previous stream, or a loss shorter than the threshold, reports nothing."""
    assert stream_gap(StreamConnected(at=10.0, since_ns=None), threshold=5) is None
    assert stream_gap(StreamConnected(at=10.0, since_ns=1, lost_at=9.0), threshold=5) is None
