"""The router: applies one event at a time, in the order they were queued, along one path.

    event ─► Detection (findings) ─► IncidentBook (notices) ─► Alerts (policy, render, group, outbox)

It is the single writer of incident state; the service feeds it from one queue. ``handle`` is one
``match`` over the closed :data:`~monitor.events.MonitorEvent` union, so mypy proves every event has
its branch.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import assert_never

from monitor.alerts import Alerts
from monitor.detection import Detected, Detection
from monitor.events import (
    ContainerEventReceived,
    DiskUsageMeasured,
    MonitorEvent,
    OomWaitEnded,
    RecheckRequested,
    StreamConnected,
    StreamLost,
    TimerFired,
    VolumesMeasured,
)
from monitor.findings import Kind
from monitor.incidents import IncidentBook
from monitor.metrics import MonitorMetrics
from shared.logging import get_logger

log = get_logger()

# Give the replay that follows a reconnect a head start, so the re-check sees its deaths as known.
RECHECK_DELAY_SECONDS = 0.3


class Router:
    def __init__(
        self,
        *,
        detection: Detection,
        book: IncidentBook,
        alerts: Alerts,
        metrics: MonitorMetrics,
        clock: Callable[[], float],
        wake: Callable[[], None],
        stream_up: Callable[[], bool],
        schedule: Callable[[MonitorEvent, float], None],
        first_since_ns: int,
    ) -> None:
        """``wake`` pokes delivery, ``stream_up`` tells whether the reader is connected, ``schedule``
        queues an event after a delay; deaths after ``first_since_ns`` are judged by the first re-check."""
        self.detection = detection
        self.book = book
        self.alerts = alerts
        self.metrics = metrics
        self.clock = clock
        self.wake = wake
        self.stream_up = stream_up
        self.schedule = schedule
        self.first_since_ns = first_since_ns
        self.cursor: tuple[int, str, str] | None = None
        self.stream_lost_at: float | None = None
        # When the current stream was connected: a death after it comes with its own events.
        self.connected_at_ns: int | None = None
        # Deaths after this time have not been judged by a successful re-check yet (Docker may have been
        # unreachable when one was due); every later re-check covers them until one succeeds.
        self.unjudged_since_ns: int | None = None

    async def handle(self, event: MonitorEvent) -> None:
        """Apply one event; the only writer of incident state."""
        now = self.clock()
        match event:
            case ContainerEventReceived():
                self.metrics.count_event(event.verb)
                self._apply(await self.detection.container_event(event), now)
                self.cursor = event.key
                self.metrics.last_event.set(event.time)
                self.metrics.event_lag.observe(max(0.0, self.clock() - event.time))
                log.debug(
                    "monitor.event_processed",
                    action=event.action,
                    container=event.name,
                    id=event.container_id[:12],
                )
            case OomWaitEnded():
                self._apply(await self.detection.oom_wait_ended(event), now)
            case TimerFired():
                self._tick(event.at)
            case StreamConnected():
                self._connected(event)
            case StreamLost():
                self.stream_lost_at = event.at
                self.metrics.connected.set(0)
            case RecheckRequested():
                await self._recheck(event.reason, _earliest(event.since_ns, self.unjudged_since_ns))
            case DiskUsageMeasured():
                self._apply(self.detection.disk(event, now), now)
            case VolumesMeasured():
                self._apply(self.detection.volumes(event, now), now)
            case _:
                assert_never(event)

    def _apply(self, detected: Detected, now: float) -> None:
        notices = self.book.apply_all(detected.findings, now)
        if detected.containers is not None or detected.volume_stacks is not None:
            self.book.close_absent(
                containers=detected.containers, volume_stacks=detected.volume_stacks, now=now
            )
        if detected.later is not None:
            self.schedule(*detected.later)
        if notices and self.alerts.submit(notices, now):
            self.wake()

    def _connected(self, event: StreamConnected) -> None:
        self.metrics.connected.set(1)
        self.stream_lost_at = None
        self.connected_at_ns = int(event.at * 1e9)
        first = event.lost_at is None
        if not first:
            self.metrics.reconnects.inc()
            detected = self.detection.stream_connected(event)
            if detected.findings:
                log.warning("monitor.gap_detected", seconds=round(event.gap_seconds or 0.0, 1))
            self._apply(detected, self.clock())
        since = self.first_since_ns if first else (event.since_ns or int((event.lost_at or event.at) * 1e9))
        self.unjudged_since_ns = _earliest(since, self.unjudged_since_ns)
        reason = "start" if first else "reconnect"
        self.schedule(RecheckRequested(reason=reason, since_ns=since), RECHECK_DELAY_SECONDS)

    async def _recheck(self, reason: str, since_ns: int | None) -> None:
        now = self.clock()
        # Deaths after the stream connected are the stream's to report (their kill may still be on its
        # way when the re-check runs); only an overflow dropped such events, so it judges up to now.
        until_ns = None if reason == "overflow" else self.connected_at_ns
        detected = await self.detection.recheck(
            since_ns=since_ns, until_ns=until_ns, now=now, found_by=_found_by(reason, since_ns)
        )
        if detected is None:
            return
        if since_ns is not None and self.unjudged_since_ns is not None and since_ns <= self.unjudged_since_ns:
            self.unjudged_since_ns = None
        self.metrics.rechecks.labels(reason=reason).inc()
        self._apply(detected, now)
        log.info(
            "monitor.rechecked",
            reason=reason,
            containers=len(detected.containers or ()),
            findings=len(detected.findings),
        )

    def _tick(self, now: float) -> None:
        notices = self.book.due(now, is_running=self.detection.is_running, stream_up=self.stream_up())
        self.alerts.submit(notices, now)
        if self.alerts.tick(now):
            self.wake()
        counts = self.book.store.counts()
        for kind in Kind:
            for state in ("firing", "resolved"):
                self.metrics.incidents.labels(kind=kind.value, state=state).set(
                    counts.get((kind.value, state), 0)
                )


def _found_by(reason: str, since_ns: int | None) -> str:
    """How a death found by this re-check is described in its page."""
    since = "" if since_ns is None else f" (deaths since {_utc(since_ns / 1e9)} judged without their events)"
    return {
        "start": "the re-check at the monitor's start",
        "reconnect": "the re-check after the Docker event stream was lost",
        "overflow": "the re-check after the monitor's event queue overflowed",
    }.get(reason, "a periodic re-check") + since


def _utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _earliest(*times: int | None) -> int | None:
    known = [t for t in times if t is not None]
    return min(known) if known else None
