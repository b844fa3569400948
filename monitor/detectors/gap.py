"""A gap in the event stream: the daemon or the socket was gone, so events may have been missed."""

from __future__ import annotations

from datetime import UTC, datetime

from monitor.attribution import HOST
from monitor.events import StreamConnected
from monitor.findings import Finding, Kind, Severity
from monitor.units import human_duration

GAP_SUBJECT = "docker-events"


def stream_gap(connected: StreamConnected, *, threshold: float) -> Finding | None:
    """Firing when a *re*connect follows a loss of at least ``threshold`` seconds."""
    gap = connected.gap_seconds
    if gap is None or connected.lost_at is None or gap < threshold:
        return None
    lost = datetime.fromtimestamp(connected.lost_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return Finding(
        kind=Kind.MONITOR_GAP,
        severity=Severity.WARNING,
        attribution=HOST,
        subject=GAP_SUBJECT,
        detail=(
            f"The Docker event stream was lost for {human_duration(gap)} (from {lost}). Events of that "
            "time may be missing (the daemon keeps only its last 256); the state of every container "
            "was re-checked instead."
        ),
        evidence={"gap_seconds": round(gap, 1), "lost_at": lost},
        marker=f"gap:{connected.lost_at:.3f}",
        occurred_at=connected.at,
    )
