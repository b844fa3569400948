"""A crash: a non-zero exit that no operator asked for, which Docker will not restart."""

from __future__ import annotations

from monitor.attribution import Attribution
from monitor.detectors.deaths import DeathCause
from monitor.findings import Finding, Kind, Severity
from monitor.snapshot import ContainerSnapshot

# Exit codes of SIGINT, SIGKILL and SIGTERM: what a stop (or a daemon shutdown) produces, so a death
# found only by a re-check, without the events around it, is not called a crash on these codes.
AMBIGUOUS_EXIT_CODES = frozenset({130, 137, 143})


def crashed(
    snapshot: ContainerSnapshot, attribution: Attribution, cause: DeathCause, *, occurred_at: float
) -> Finding | None:
    """Firing for a crash of a container that stays down; a restarting one is the crash loop's business."""
    if cause is not DeathCause.CRASH or snapshot.running or snapshot.restart_expected:
        return None
    return Finding(
        kind=Kind.CONTAINER_CRASHED,
        severity=Severity.CRITICAL,
        attribution=attribution,
        subject=snapshot.name,
        container_id=snapshot.container_id,
        detail=(
            f"Container {snapshot.name} exited with code {snapshot.exit_code} and was not restarted "
            f"(restart policy: {snapshot.restart_policy or 'no'})."
        ),
        evidence={
            "container": snapshot.name,
            "exit_code": snapshot.exit_code,
            "restart_policy": snapshot.restart_policy or "no",
            "restart_count": snapshot.restart_count,
            "image": snapshot.image,
        },
        marker=snapshot.finished_marker,
        occurred_at=occurred_at,
    )
