"""The events the monitor reacts to: a closed set of frozen models named as past-tense facts.

Everything that reaches the processing loop is one of :data:`MonitorEvent`; the event reader, the
timers and the probes only ever *produce* them, and only the router (:mod:`monitor.router`) acts on
them, one at a time, with a ``match`` that mypy checks for exhaustiveness.
"""

from __future__ import annotations

from typing import Any, TypeAlias

from monitor.values import Value

HEALTH_PREFIX = "health_status: "


class Event(Value):
    """Base of the events; only the members of :data:`MonitorEvent` derive from it."""


class ContainerEventReceived(Event):
    """One container event exactly as the Docker daemon sent it.

    ``attributes`` holds every container label merged *over* the per-action attributes, so
    ``exitCode``, ``signal`` and ``execDuration`` in it can be spoofed by a label and are never read.
    """

    time_nano: int
    action: str
    container_id: str
    attributes: dict[str, str]

    @classmethod
    def from_docker(cls, raw: dict[str, Any]) -> ContainerEventReceived | None:
        """Parse a decoded ``/events`` message; ``None`` for anything that is not a container event."""
        if raw.get("Type") != "container":
            return None
        actor = raw.get("Actor") or {}
        container_id = actor.get("ID") or raw.get("id")
        action = raw.get("Action") or raw.get("status")
        time_nano = raw.get("timeNano")
        if not container_id or not action or not isinstance(time_nano, int):
            return None
        attributes = {str(k): str(v) for k, v in (actor.get("Attributes") or {}).items()}
        return cls(
            time_nano=time_nano, action=str(action), container_id=str(container_id), attributes=attributes
        )

    @property
    def key(self) -> tuple[int, str, str]:
        """Identity used to drop the inclusive replay of ``since``."""
        return (self.time_nano, self.container_id, self.action)

    @property
    def time(self) -> float:
        return self.time_nano / 1e9

    @property
    def name(self) -> str:
        return self.attributes.get("name") or self.container_id[:12]

    @property
    def verb(self) -> str:
        """The action without its argument: ``health_status: unhealthy`` → ``health_status``."""
        return self.action.split(":", 1)[0]

    @property
    def health(self) -> str | None:
        if self.action.startswith(HEALTH_PREFIX):
            return self.action[len(HEALTH_PREFIX) :].strip()
        return None


class StreamConnected(Event):
    """The event stream is (re)established. ``lost_at`` is when the previous one was lost (None: first)."""

    at: float
    since_ns: int | None
    lost_at: float | None = None

    @property
    def gap_seconds(self) -> float | None:
        return None if self.lost_at is None else max(0.0, self.at - self.lost_at)


class StreamLost(Event):
    """The event stream ended (daemon gone, socket closed, hung stream closed by the watchdog)."""

    at: float
    reason: str


class RecheckRequested(Event):
    """A re-check of every container's real state is due; deaths after ``since_ns`` are judged too
    (None: state only, because the event stream saw every death)."""

    reason: str
    since_ns: int | None = None


class DiskUsageMeasured(Event):
    """One host filesystem measured with statvfs; ``free_bytes`` is what non-root may still use."""

    path: str
    total_bytes: int
    used_bytes: int
    free_bytes: int

    @property
    def percent(self) -> float:
        """Used space as ``df`` reports it: used / (used + available)."""
        usable = self.used_bytes + self.free_bytes
        return 100.0 * self.used_bytes / usable if usable else 0.0


class VolumeMeasured(Value):
    """One Docker volume's size from ``/system/df`` (``size_bytes`` is -1 for non-local drivers)."""

    name: str
    size_bytes: int
    labels: dict[str, str]
    container_labels: list[dict[str, str]]


class VolumesMeasured(Event):
    """All volumes measured in one ``/system/df`` call."""

    volumes: list[VolumeMeasured]


class TimerFired(Event):
    """The periodic tick: holds, repeats, grouping windows, recoveries."""

    at: float


class OomWaitEnded(Event):
    """The wait for a ``die`` after the ``oom`` of ``container_id`` at ``oom_time_nano`` is over."""

    container_id: str
    oom_time_nano: int


MonitorEvent: TypeAlias = (
    ContainerEventReceived
    | StreamConnected
    | StreamLost
    | RecheckRequested
    | TimerFired
    | OomWaitEnded
    | DiskUsageMeasured
    | VolumesMeasured
)
