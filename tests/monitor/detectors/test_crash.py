"""Tests for monitor.detectors.crash: crashes of containers that stay down."""

from __future__ import annotations

from monitor.detectors.crash import crashed
from monitor.detectors.deaths import DeathCause
from tests.monitor.fakes import ACME_BOT, T0, snapshot


def test_a_crash_without_restart_is_reported_with_the_inspected_exit_code() -> None:
    """Exit 3, restart policy no: a crash naming code 3."""
    found = crashed(snapshot(exit_code=3), ACME_BOT, DeathCause.CRASH, occurred_at=T0)
    assert found is not None and found.evidence["exit_code"] == 3
    assert "exited with code 3 and was not restarted (restart policy: no)" in found.detail


def test_restarting_containers_and_other_causes_are_not_crashes_here() -> None:
    """A restart policy handles one death (loops are detected elsewhere); clean exits are fine."""
    assert (
        crashed(snapshot(exit_code=1, restart_policy="always"), ACME_BOT, DeathCause.CRASH, occurred_at=T0)
        is None
    )
    assert crashed(snapshot(exit_code=0), ACME_BOT, DeathCause.CLEAN, occurred_at=T0) is None
    assert crashed(snapshot(exit_code=1), ACME_BOT, DeathCause.OPERATOR, occurred_at=T0) is None
