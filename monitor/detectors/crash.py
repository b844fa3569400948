"""A crash: a non-zero exit that no operator asked for, of a container Docker will not restart."""

from __future__ import annotations

from monitor.attribution import Attribution
from monitor.detectors.deaths import DeathCause
from monitor.findings import Finding, Kind, Severity
from monitor.snapshot import ContainerSnapshot


def crashed(
    snapshot: ContainerSnapshot,
    attribution: Attribution,
    cause: DeathCause,
    *,
    occurred_at: float,
    found_by: str | None = None,
) -> Finding | None:
    """Firing for a crash of a container that stays down; a restarting one is the crash loop's business.

    ``found_by`` says how a death was found when it was not by its own ``die`` event (a re-check).
    """
    if cause is not DeathCause.CRASH or snapshot.running or snapshot.restart_expected:
        return None
    detail = (
        f"Container {snapshot.name} exited with code {snapshot.exit_code} and was not restarted "
        f"(restart policy: {snapshot.restart_policy or 'no'})."
    )
    evidence: dict[str, str | int | float | None] = {
        "container": snapshot.name,
        "exit_code": snapshot.exit_code,
        "restart_policy": snapshot.restart_policy or "no",
        "restart_count": snapshot.restart_count,
        "image": snapshot.image,
    }
    if found_by:
        detail += f" Found by {found_by}; no stop or kill of it was seen."
        evidence["found_by"] = found_by
    return Finding(
        kind=Kind.CONTAINER_CRASHED,
        severity=Severity.CRITICAL,
        attribution=attribution,
        subject=snapshot.name,
        container_id=snapshot.container_id,
        detail=detail,
        evidence=evidence,
        marker=snapshot.finished_marker,
        occurred_at=occurred_at,
    )


def crashed_and_removed(
    *,
    name: str,
    container_id: str,
    image: str,
    exit_code: int,
    attribution: Attribution,
    occurred_at: float,
) -> Finding:
    """A crash of a container that was gone before it could be inspected (``--rm``, one-shot jobs):
    the exit code is the ``die`` event's, and nothing will restart a removed container."""
    return Finding(
        kind=Kind.CONTAINER_CRASHED,
        severity=Severity.CRITICAL,
        attribution=attribution,
        subject=name,
        container_id=container_id,
        detail=(
            f"Container {name} exited with code {exit_code} and was removed on exit (--rm or a one-shot "
            "service), before it could be inspected: the exit code comes from the die event."
        ),
        evidence={
            "container": name,
            "exit_code": exit_code,
            "exit_code_source": "the die event (the container was already removed)",
            "image": image,
        },
        marker=f"die:{int(occurred_at * 1e9)}",
        occurred_at=occurred_at,
    )
