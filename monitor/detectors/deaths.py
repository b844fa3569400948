"""Why a container died: the operator, the OOM killer, a clean exit, or a crash.

Exit code 137 alone never means OOM (``docker stop`` of a process that ignores SIGTERM ends with 137
too): an OOM death needs an ``oom`` event just before it or ``State.OOMKilled`` from inspect, and a
signal that stops the container shortly before a death marks it as intended. A reload signal (``kill -s
HUP``) is not such an intent.
"""

from __future__ import annotations

import signal
from collections.abc import Mapping
from enum import StrEnum

from monitor.snapshot import ContainerSnapshot

# What `docker stop` (TERM, then KILL), `docker kill` (KILL by default), `docker rm -f` (KILL) and an
# interrupted `docker run` (INT) send. A container's own StopSignal counts too (see stops_container).
STOPPING_SIGNALS = frozenset({signal.SIGTERM, signal.SIGKILL, signal.SIGINT})


class DeathCause(StrEnum):
    OPERATOR = "operator"
    OOM = "oom"
    CLEAN = "clean"
    CRASH = "crash"
    UNKNOWN = "unknown"


def parse_signal(value: str | None) -> signal.Signals | None:
    """``"15"``, ``"SIGTERM"`` or ``"TERM"`` → the signal; None for anything else."""
    if not value:
        return None
    text = value.strip().upper()
    try:
        return signal.Signals(int(text))
    except ValueError:
        pass
    name = text if text.startswith("SIG") else f"SIG{text}"
    try:
        return signal.Signals[name]
    except KeyError:
        return None


def stops_container(signal_attribute: str | None, *, stop_signal: str | None, spoofable: bool) -> bool:
    """Whether a ``kill`` event's signal is one that stops the container (operator intent).

    ``spoofable``: the container has a label named ``signal``, which overwrites the event's attribute,
    so the real signal is unknown and the kill counts as intent (a false page is worse than a missed
    excuse). An unreadable signal counts as intent for the same reason.
    """
    sent = parse_signal(signal_attribute)
    if spoofable or sent is None:
        return True
    return sent in STOPPING_SIGNALS or sent == parse_signal(stop_signal)


def event_exit_code(attributes: Mapping[str, str], labels: Mapping[str, str] | None) -> int | None:
    """The ``die`` event's ``exitCode``, unless a label of that name may have overwritten it.

    ``labels``: the container's labels when known (None: unknown, the attribute is taken as sent).
    """
    if labels is not None and "exitCode" in labels:
        return None
    try:
        return int(attributes["exitCode"])
    except (KeyError, ValueError):
        return None


def classify_death(
    snapshot: ContainerSnapshot | None,
    *,
    died_at: float,
    kill_intent_at: float | None,
    oom_at: float | None,
    intent_window: float,
    oom_window: float,
    exit_code: int | None = None,
) -> DeathCause:
    """Classify one death using the preceding intent/oom events and the state inspected after it.

    ``exit_code`` is the ``die`` event's code, used only when there is no ``snapshot`` (the container
    was removed before it could be inspected).
    """
    if kill_intent_at is not None and -1.0 <= died_at - kill_intent_at <= intent_window:
        return DeathCause.OPERATOR
    if oom_at is not None and -1.0 <= died_at - oom_at <= oom_window:
        return DeathCause.OOM
    if snapshot is not None:
        if snapshot.oom_killed:
            return DeathCause.OOM
        exit_code = snapshot.exit_code
    if exit_code is None:
        return DeathCause.UNKNOWN
    return DeathCause.CLEAN if exit_code == 0 else DeathCause.CRASH
