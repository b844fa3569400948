"""What a full re-check of one container finds: state-based conditions and deaths in a gap."""

from __future__ import annotations

from monitor.attribution import Attribution
from monitor.detectors import crash, health, oom
from monitor.detectors.deaths import DeathCause, classify_death
from monitor.findings import Finding
from monitor.snapshot import ContainerSnapshot


def recheck(
    snapshot: ContainerSnapshot,
    attribution: Attribution,
    *,
    since_ns: int | None,
    now: float,
    loop_window: float,
    kill_intent_at: float | None = None,
    intent_window: float = 300.0,
    found_by: str = "a re-check",
) -> list[Finding]:
    """Findings from inspected state alone, plus deaths after ``since_ns`` (None: deaths are not
    judged here). Already-known deaths are recognised later by their marker. A death is an operator's
    only when a stopping signal was seen before it (``kill_intent_at``, from the events that did arrive,
    a replay included); otherwise a non-zero exit is a crash, 137 and 143 too, and the page says it was
    ``found_by`` a re-check."""
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
                snapshot, attribution, kills_in_window=1, window=loop_window, occurred_at=died_at
            )
        )
        return findings
    cause = classify_death(
        snapshot,
        died_at=died_at,
        kill_intent_at=kill_intent_at,
        oom_at=None,
        intent_window=intent_window,
        oom_window=0.0,
    )
    if cause is DeathCause.CRASH:
        found = crash.crashed(snapshot, attribution, cause, occurred_at=died_at, found_by=found_by)
        if found is not None:
            findings.append(found)
    return findings
