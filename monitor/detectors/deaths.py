"""Why a container died: the operator, the OOM killer, a clean exit, or a crash.

Exit code 137 alone never means OOM (``docker stop`` of a process that ignores SIGTERM ends with 137
too): an OOM death needs an ``oom`` event just before it or ``State.OOMKilled`` from inspect, and a
``kill``/``stop`` shortly before a death marks it as intended.
"""

from __future__ import annotations

from enum import StrEnum

from monitor.snapshot import ContainerSnapshot


class DeathCause(StrEnum):
    OPERATOR = "operator"
    OOM = "oom"
    CLEAN = "clean"
    CRASH = "crash"
    UNKNOWN = "unknown"


def classify_death(
    snapshot: ContainerSnapshot | None,
    *,
    died_at: float,
    kill_intent_at: float | None,
    oom_at: float | None,
    intent_window: float,
    oom_window: float,
) -> DeathCause:
    """Classify one ``die`` using the preceding intent/oom events and the state inspected after it."""
    if kill_intent_at is not None and -1.0 <= died_at - kill_intent_at <= intent_window:
        return DeathCause.OPERATOR
    if oom_at is not None and -1.0 <= died_at - oom_at <= oom_window:
        return DeathCause.OOM
    if snapshot is None:
        return DeathCause.UNKNOWN
    if snapshot.oom_killed:
        return DeathCause.OOM
    if snapshot.exit_code == 0:
        return DeathCause.CLEAN
    return DeathCause.CRASH
