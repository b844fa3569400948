"""Tests for monitor.metrics: a registry per monitor, bounded label values."""

from __future__ import annotations

from prometheus_client import generate_latest

from monitor.metrics import MonitorMetrics


def test_event_actions_are_counted_with_a_bounded_label_set() -> None:
    """Known actions keep their name, anything else is 'other'; two monitors do not share counters."""
    first, second = MonitorMetrics(), MonitorMetrics()
    first.count_event("die")
    first.count_event("exec_die")
    text = generate_latest(first.registry).decode()
    assert 'cfmon_events_total{action="die"} 1.0' in text
    assert 'cfmon_events_total{action="other"} 1.0' in text
    assert 'cfmon_events_total{action="die"} 0.0' in generate_latest(second.registry).decode()
