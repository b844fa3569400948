"""Tests for monitor.detectors.health: unhealthy with the check's output, healthy again."""

from __future__ import annotations

from monitor.detectors.health import healthy_again, unhealthy
from monitor.findings import Kind
from tests.monitor.fakes import ACME_BOT, T0, snapshot


def test_unhealthy_carries_the_last_check_output() -> None:
    """The alert text includes what the health check printed."""
    snap = snapshot(
        health_status="unhealthy", health_output="db down", health_failing_streak=3, health_exit_code=1
    )
    found = unhealthy(snap, ACME_BOT, occurred_at=T0)
    assert found is not None and found.kind is Kind.CONTAINER_UNHEALTHY
    assert found.evidence["health_output"] == "db down"
    assert "3 failed check(s) in a row" in found.detail


def test_a_replayed_unhealthy_edge_of_a_recovered_container_finds_nothing() -> None:
    """Only the inspected *current* status counts."""
    assert unhealthy(snapshot(health_status="healthy"), ACME_BOT, occurred_at=T0) is None
    assert unhealthy(snapshot(health_status=None), ACME_BOT, occurred_at=T0) is None


def test_healthy_again_resolves() -> None:
    """A healthy status yields a resolving finding; starting or none yields nothing."""
    resolved = healthy_again(snapshot(health_status="healthy"), ACME_BOT)
    assert resolved is not None and not resolved.firing
    assert healthy_again(snapshot(health_status="starting"), ACME_BOT) is None
