"""Per-stack Docker volume usage against the plan's volume budget."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from monitor.attribution import Attribution
from monitor.events import VolumesMeasured
from monitor.findings import Finding, Kind, Severity
from monitor.units import human_bytes
from monitor.values import Value

VOLUMES_SUBJECT = "volumes"


class StackVolumes(Value):
    attribution: Attribution
    volumes: list[str]
    used_bytes: int


def group_by_stack(
    measured: VolumesMeasured, attribute: Callable[[Mapping[str, str]], Attribution]
) -> list[StackVolumes]:
    """Sum volume sizes per stack; a volume is placed by its own labels, else by a container using it."""
    totals: dict[tuple[str, str | None], tuple[Attribution, list[str], int]] = {}
    for volume in measured.volumes:
        if volume.size_bytes < 0:
            continue  # non-local driver: Docker cannot size it
        attribution = attribute(volume.labels)
        for labels in volume.container_labels:
            if attribution.attributed:
                break
            attribution = attribute(labels)
        if attribution.tenant is None:
            continue
        key = (attribution.tenant, attribution.stack)
        known, names, used = totals.get(key, (attribution, [], 0))
        totals[key] = (known, [*names, volume.name], used + volume.size_bytes)
    return [
        StackVolumes(attribution=attribution, volumes=sorted(names), used_bytes=used)
        for attribution, names, used in totals.values()
    ]


def volume_quota(
    usage: StackVolumes,
    *,
    budget_bytes: int | None,
    warning: float,
    critical: float,
    clear_margin: float,
    at: float,
) -> Finding | None:
    """Firing at ``warning``% of the budget (critical at ``critical``%); over below the margin."""
    if not budget_bytes:
        return None
    percent = 100.0 * usage.used_bytes / budget_bytes
    if percent >= warning:
        return Finding(
            kind=Kind.VOLUME_QUOTA,
            severity=Severity.CRITICAL if percent >= critical else Severity.WARNING,
            attribution=usage.attribution,
            subject=VOLUMES_SUBJECT,
            detail=(
                f"Volumes of this stack use {human_bytes(usage.used_bytes)}, {percent:.0f}% of the plan's "
                f"{human_bytes(budget_bytes)} budget ({', '.join(usage.volumes)})."
            ),
            evidence={
                "used": human_bytes(usage.used_bytes),
                "budget": human_bytes(budget_bytes),
                "used_percent": round(percent, 1),
                "volumes": ", ".join(usage.volumes),
            },
            occurred_at=at,
        )
    if percent < warning - clear_margin:
        return Finding(
            kind=Kind.VOLUME_QUOTA,
            firing=False,
            attribution=usage.attribution,
            subject=VOLUMES_SUBJECT,
            reason=f"volumes down to {human_bytes(usage.used_bytes)} ({percent:.0f}% of the budget)",
        )
    return None
