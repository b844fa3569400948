"""Host filesystem usage against warning and critical thresholds, with hysteresis on the way down."""

from __future__ import annotations

from monitor.attribution import HOST
from monitor.events import DiskUsageMeasured
from monitor.findings import Finding, Kind, Severity
from monitor.units import human_bytes


def disk_pressure(
    measured: DiskUsageMeasured,
    *,
    warning: float,
    critical: float,
    clear_margin: float,
    at: float,
) -> Finding | None:
    """Firing at or above ``warning``; over only below ``warning - clear_margin``; else None (in the band
    between, whatever fires keeps firing)."""
    percent = measured.percent
    if percent >= warning:
        severity = Severity.CRITICAL if percent >= critical else Severity.WARNING
        return Finding(
            kind=Kind.DISK_PRESSURE,
            severity=severity,
            attribution=HOST,
            subject=measured.path,
            detail=(
                f"Filesystem {measured.path} is {percent:.1f}% full: "
                f"{human_bytes(measured.used_bytes)} used, "
                f"{human_bytes(measured.free_bytes)} free (thresholds {warning:g}% / {critical:g}%)."
            ),
            evidence={
                "path": measured.path,
                "used_percent": round(percent, 1),
                "used": human_bytes(measured.used_bytes),
                "free": human_bytes(measured.free_bytes),
                "size": human_bytes(measured.total_bytes),
            },
            occurred_at=at,
        )
    if percent < warning - clear_margin:
        return Finding(
            kind=Kind.DISK_PRESSURE,
            firing=False,
            attribution=HOST,
            subject=measured.path,
            reason=f"{measured.path} is down to {percent:.1f}% ({human_bytes(measured.free_bytes)} free)",
        )
    return None
