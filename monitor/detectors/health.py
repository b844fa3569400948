"""Unhealthy containers, with the health check's own output (events carry no reason)."""

from __future__ import annotations

from monitor.attribution import Attribution
from monitor.findings import Finding, Kind, Severity
from monitor.snapshot import ContainerSnapshot

HEALTHY_AGAIN = "the health check passes again"


def unhealthy(snapshot: ContainerSnapshot, attribution: Attribution, *, occurred_at: float) -> Finding | None:
    """Firing when inspect *now* says unhealthy (a replayed, already-recovered edge yields nothing)."""
    if snapshot.health_status != "unhealthy":
        return None
    output = snapshot.health_output or "(the check printed nothing)"
    return Finding(
        kind=Kind.CONTAINER_UNHEALTHY,
        severity=Severity.CRITICAL,
        attribution=attribution,
        subject=snapshot.name,
        container_id=snapshot.container_id,
        detail=(
            f"Container {snapshot.name} is unhealthy: "
            f"{snapshot.health_failing_streak} failed check(s) in a row, "
            f"last exit code {snapshot.health_exit_code}. Last check output: {output}"
        ),
        evidence={
            "container": snapshot.name,
            "health_output": output,
            "failing_streak": snapshot.health_failing_streak,
            "check_exit_code": snapshot.health_exit_code,
        },
        occurred_at=occurred_at,
    )


def healthy_again(snapshot: ContainerSnapshot, attribution: Attribution) -> Finding | None:
    """Resolving when inspect says healthy."""
    if snapshot.health_status != "healthy":
        return None
    return over(snapshot.name, snapshot.container_id, attribution, reason=HEALTHY_AGAIN)


def over(name: str, container_id: str, attribution: Attribution, *, reason: str) -> Finding:
    """The container is no longer unhealthy: its check passes again, or it stopped (a dead container
    has no health, and Docker sends no "healthy" after a death)."""
    return Finding(
        kind=Kind.CONTAINER_UNHEALTHY,
        firing=False,
        attribution=attribution,
        subject=name,
        container_id=container_id,
        reason=reason,
    )
