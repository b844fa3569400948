"""What a detector concludes: a :class:`Finding` that a condition is firing, or that it is over.

A finding names its incident through :func:`fingerprint`: one incident per host, tenant, stack,
subject (container, volume set or path) and kind.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from monitor.attribution import Attribution
from monitor.values import Value


class Kind(StrEnum):
    """Alert kinds; each has ``runbooks/<value>.md``."""

    CONTAINER_UNHEALTHY = "container-unhealthy"
    OOM_KILLED = "oom-killed"
    CONTAINER_CRASHED = "container-crashed"
    CRASH_LOOP = "crash-loop"
    DISK_PRESSURE = "disk-pressure"
    VOLUME_QUOTA = "volume-quota"
    MONITOR_GAP = "monitor-gap"


TITLES: dict[Kind, str] = {
    Kind.CONTAINER_UNHEALTHY: "Container unhealthy",
    Kind.OOM_KILLED: "OOM killed",
    Kind.CONTAINER_CRASHED: "Container crashed",
    Kind.CRASH_LOOP: "Crash loop",
    Kind.DISK_PRESSURE: "Disk pressure",
    Kind.VOLUME_QUOTA: "Volume quota",
    Kind.MONITOR_GAP: "Monitor gap",
}

# Container-bound kinds that are resolved by time (no "recovered" event exists for them).
RECOVERY_KINDS = frozenset({Kind.OOM_KILLED, Kind.CONTAINER_CRASHED, Kind.CRASH_LOOP})


class Severity(StrEnum):
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return 2 if self is Severity.CRITICAL else 1


Evidence = dict[str, str | int | float | None]


class Finding(Value):
    """A detector's conclusion about one subject.

    ``firing=False`` means the condition is over (``reason`` says why); ``quiet`` ends it at once and
    without a message (its subject is gone, which is not a recovery). ``marker`` identifies one
    occurrence (e.g. the time of a death) so that a later re-check does not report it again.
    """

    kind: Kind
    firing: bool = True
    quiet: bool = False
    severity: Severity = Severity.CRITICAL
    attribution: Attribution
    subject: str
    container_id: str | None = None
    detail: str = ""
    evidence: Evidence = Field(default_factory=dict)
    marker: str | None = None
    reason: str | None = None
    occurred_at: float | None = None


def fingerprint(host: str, attribution: Attribution, subject: str, kind: Kind) -> str:
    """The incident identity: host, tenant, stack, subject, kind."""
    return "|".join((host, attribution.tenant or "-", attribution.stack or "-", subject, kind.value))
