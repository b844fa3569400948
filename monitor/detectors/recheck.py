"""What a full re-check of one container finds: state-based conditions and deaths in a gap."""

from __future__ import annotations

from monitor.attribution import Attribution
from monitor.detectors import crash, health, oom
from monitor.detectors.deaths import DeathCause
from monitor.findings import Finding
from monitor.snapshot import ContainerSnapshot


def recheck(
    snapshot: ContainerSnapshot,
    attribution: Attribution,
    *,
    since_ns: int | None,
    now: float,
    oom_window: float,
) -> list[Finding]:
    """Findings from inspected state alone, plus deaths after ``since_ns`` (None: deaths are not
    judged here). Already-known deaths are recognised later by their marker; exit codes of stop
    signals are not called crashes, because the events that would tell an operator stop are missing."""
    findings: list[Finding] = []
    unhealthy = health.unhealthy(snapshot, attribution, occurred_at=now)
    if unhealthy is not None:
        findings.append(unhealthy)
    else:
        healthy = health.healthy_again(snapshot, attribution)
        if healthy is not None:
            findings.append(healthy)
    died_recently = (
        since_ns is not None and snapshot.finished_at_ns is not None and snapshot.finished_at_ns >= since_ns
    )
    if not died_recently:
        return findings
    died_at = (snapshot.finished_at_ns or 0) / 1e9
    if snapshot.oom_killed:
        findings.append(
            oom.container_oom_killed(
                snapshot, attribution, kills_in_window=1, window=oom_window, occurred_at=died_at
            )
        )
    elif snapshot.exit_code not in crash.AMBIGUOUS_EXIT_CODES:
        found = crash.crashed(snapshot, attribution, DeathCause.CRASH, occurred_at=died_at)
        if found is not None:
            findings.append(found)
    return findings
