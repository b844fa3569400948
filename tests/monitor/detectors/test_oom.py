"""Tests for monitor.detectors.oom: container killed versus a process inside killed."""

from __future__ import annotations

from monitor.detectors.oom import container_oom_killed, process_oom_killed
from monitor.findings import Kind, Severity
from tests.monitor.fakes import ACME_BOT, T0, snapshot


def test_container_kill_names_limit_exit_code_and_marks_the_death() -> None:
    """The finding carries the memory limit, the inspected exit code and the death's marker."""
    snap = snapshot(exit_code=137, oom_killed=True, memory_limit_bytes=16 * 1024 * 1024)
    found = container_oom_killed(snap, ACME_BOT, kills_in_window=1, window=600, occurred_at=T0)
    assert (found.kind, found.severity, found.firing) == (Kind.OOM_KILLED, Severity.CRITICAL, True)
    assert "hit its 16 MiB memory limit (exit code 137). It was not restarted." in found.detail
    assert found.evidence["memory_limit"] == "16 MiB"
    assert found.marker == snap.finished_marker


def test_container_kill_under_a_restart_policy_counts_restarts() -> None:
    """A restarted container: restart count and kills in the window, and no stale exit code."""
    snap = snapshot(running=True, status="running", oom_killed=True, restart_policy="always", restart_count=3)
    found = container_oom_killed(snap, ACME_BOT, kills_in_window=3, window=600, occurred_at=T0)
    assert "restarted 3 times, 3 OOM kill(s) in 10 min" in found.detail
    assert found.evidence["exit_code"] is None


def test_process_kill_says_the_container_still_runs() -> None:
    """An oom without a death: a process inside was killed; marked by the oom event's time."""
    found = process_oom_killed(snapshot(running=True, status="running"), ACME_BOT, oom_time_nano=123)
    assert "A process inside container cf-acme-bot" in found.detail
    assert "still running" in found.detail
    assert found.marker == "oom:123"
