"""OOM: the container itself killed (its main process died) versus a process inside it killed."""

from __future__ import annotations

from monitor.attribution import Attribution
from monitor.findings import Finding, Kind, Severity
from monitor.snapshot import ContainerSnapshot
from monitor.units import human_bytes, human_duration


def container_oom_killed(
    snapshot: ContainerSnapshot,
    attribution: Attribution,
    *,
    kills_in_window: int,
    window: float,
    occurred_at: float,
) -> Finding:
    """The container's main process was OOM-killed; ``kills_in_window`` counts this one too."""
    limit = human_bytes(snapshot.memory_limit_bytes) if snapshot.memory_limit_bytes else None
    known = not snapshot.running and snapshot.status != "removed"
    exit_code: int | None = snapshot.exit_code if known else None
    detail = f"Container {snapshot.name} was killed by the kernel OOM killer: "
    detail += f"it hit its {limit} memory limit" if limit else "it ran out of memory"
    detail += f" (exit code {exit_code})." if exit_code is not None else "."
    if snapshot.restart_expected or snapshot.running:
        detail += (
            f" Restart policy {snapshot.restart_policy or 'no'}: restarted {snapshot.restart_count} times"
        )
        detail += f", {kills_in_window} OOM kill(s) in {human_duration(window)}."
    else:
        detail += " It was not restarted."
    return Finding(
        kind=Kind.OOM_KILLED,
        severity=Severity.CRITICAL,
        attribution=attribution,
        subject=snapshot.name,
        container_id=snapshot.container_id,
        detail=detail,
        evidence={
            "container": snapshot.name,
            "memory_limit": limit,
            "exit_code": exit_code,
            "oom_kills_in_window": kills_in_window,
            "restart_count": snapshot.restart_count,
            "image": snapshot.image,
        },
        marker=snapshot.finished_marker,
        occurred_at=occurred_at,
    )


def process_oom_killed(
    snapshot: ContainerSnapshot,
    attribution: Attribution,
    *,
    oom_time_nano: int,
) -> Finding:
    """An ``oom`` with no ``die``: a process inside was killed and the container kept running."""
    limit = human_bytes(snapshot.memory_limit_bytes) if snapshot.memory_limit_bytes else "none set"
    return Finding(
        kind=Kind.OOM_KILLED,
        severity=Severity.CRITICAL,
        attribution=attribution,
        subject=snapshot.name,
        container_id=snapshot.container_id,
        detail=(
            f"A process inside container {snapshot.name} was killed by the kernel OOM killer "
            f"(memory limit {limit}); the container itself is still running."
        ),
        evidence={
            "container": snapshot.name,
            "memory_limit": limit,
            "container_running": "yes",
            "image": snapshot.image,
        },
        marker=f"oom:{oom_time_nano}",
        occurred_at=oom_time_nano / 1e9,
    )
