"""A crash loop: N deaths of one container within a window (restart-policy loops emit no ``restart``)."""

from __future__ import annotations

from collections.abc import Sequence

from monitor.attribution import Attribution
from monitor.findings import Finding, Kind, Severity
from monitor.snapshot import ContainerSnapshot
from monitor.units import human_duration


def crash_loop(
    *,
    name: str,
    container_id: str,
    snapshot: ContainerSnapshot | None,
    attribution: Attribution,
    deaths: Sequence[float],
    now: float,
    threshold: int,
    window: float,
) -> Finding | None:
    """Firing when at least ``threshold`` of ``deaths`` (operator stops and OOM kills excluded) are recent."""
    recent = [t for t in deaths if now - t <= window]
    if len(recent) < threshold:
        return None
    exit_code = snapshot.exit_code if snapshot is not None and not snapshot.running else None
    restarts = snapshot.restart_count if snapshot is not None else None
    detail = f"Container {name} died {len(recent)} times in {human_duration(window)}"
    detail += f" (restart count {restarts})" if restarts is not None else ""
    detail += f"; last exit code {exit_code}." if exit_code is not None else "."
    return Finding(
        kind=Kind.CRASH_LOOP,
        severity=Severity.CRITICAL,
        attribution=attribution,
        subject=name,
        container_id=container_id,
        detail=detail,
        evidence={
            "container": name,
            "deaths_in_window": len(recent),
            "window": human_duration(window),
            "restart_count": restarts,
            "last_exit_code": exit_code,
            "restart_policy": (snapshot.restart_policy or "no") if snapshot is not None else None,
        },
        occurred_at=max(recent),
    )
