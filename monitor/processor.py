"""The processor: applies one fact at a time — container events, stream changes, timer ticks, disk and
volume measurements — turning the handler's and detectors' findings into incident changes and notices.

It is the single writer of incident state; the service feeds it from one queue.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from monitor.attribution import HOST
from monitor.detectors.disk import disk_pressure
from monitor.detectors.gap import stream_gap
from monitor.detectors.volume import group_by_stack, volume_quota
from monitor.directory import StackDirectory
from monitor.dispatch import Dispatcher
from monitor.events import (
    ContainerEventReceived,
    DiskUsageMeasured,
    Fact,
    ReconcileRequested,
    StreamConnected,
    StreamLost,
    VolumesMeasured,
)
from monitor.findings import RECOVERY_KINDS, Finding, Kind
from monitor.grouping import Grouper
from monitor.incidents import IncidentBook, IncidentStore
from monitor.metrics import MonitorMetrics
from monitor.pipeline import EventHandler
from monitor.units import human_duration
from shared.logging import get_logger
from shared.settings import Settings

log = get_logger()

# Give the replay that follows a reconnect a head start, so the re-check sees its deaths as known.
RECHECK_DELAY_SECONDS = 0.3


class TimerFired(Fact):
    """The periodic tick: holds, repeats, grouping windows, pending OOMs, recoveries."""

    at: float


class Processor:
    def __init__(
        self,
        settings: Settings,
        *,
        handler: EventHandler,
        book: IncidentBook,
        dispatcher: Dispatcher,
        grouper: Grouper,
        directory: StackDirectory,
        metrics: MonitorMetrics,
        clock: Callable[[], float],
        wake: Callable[[], None],
        stream_up: Callable[[], bool],
        request: Callable[[Fact, float], None],
        first_since_ns: int,
    ) -> None:
        """``wake`` pokes delivery, ``stream_up`` tells whether the reader is connected, ``request``
        queues a fact after a delay; deaths after ``first_since_ns`` are judged by the first re-check."""
        self.settings = settings
        self.handler = handler
        self.book = book
        self.incidents: IncidentStore = book.store
        self.dispatcher = dispatcher
        self.grouper = grouper
        self.outbox = grouper.outbox
        self.directory = directory
        self.metrics = metrics
        self.clock = clock
        self.wake = wake
        self.stream_up = stream_up
        self.request = request
        self.first_since_ns = first_since_ns
        self.cursor: tuple[int, str, str] | None = None
        self.stream_lost_at: float | None = None
        # Deaths after this time have not been judged by a successful re-check yet (Docker may have been
        # unreachable when one was due); every later re-check covers them until one succeeds.
        self.unjudged_since_ns: int | None = None

    async def handle(self, fact: Fact) -> None:
        """Apply one fact; the only writer of incident state."""
        now = self.clock()
        if isinstance(fact, ContainerEventReceived):
            self.metrics.count_event(fact.verb)
            findings = await self.handler.handle(fact)
            self.apply(findings, now)
            self.cursor = fact.key
            self.metrics.last_event.set(fact.time)
            self.metrics.event_lag.observe(max(0.0, self.clock() - fact.time))
            log.debug(
                "monitor.event_processed", action=fact.action, container=fact.name, id=fact.container_id[:12]
            )
        elif isinstance(fact, TimerFired):
            await self._on_timer(fact.at)
        elif isinstance(fact, StreamConnected):
            await self._on_connected(fact)
        elif isinstance(fact, StreamLost):
            self.stream_lost_at = fact.at
            self.metrics.connected.set(0)
        elif isinstance(fact, ReconcileRequested):
            since = _earliest(fact.since_ns, self.unjudged_since_ns)
            await self.recheck(fact.reason, since_ns=since)
        elif isinstance(fact, DiskUsageMeasured):
            self._on_disk(fact, now)
        elif isinstance(fact, VolumesMeasured):
            self._on_volumes(fact, now)

    def apply(self, findings: list[Finding], now: float) -> None:
        if not findings:
            return
        notices = []
        for finding in findings:
            notices.extend(self.book.apply(finding, now))
        if notices and self.dispatcher.submit(notices, now):
            self.wake()

    async def _on_connected(self, fact: StreamConnected) -> None:
        self.metrics.connected.set(1)
        self.stream_lost_at = None
        first = fact.lost_at is None
        if not first:
            self.metrics.reconnects.inc()
            gap = stream_gap(fact, threshold=self.settings.monitor_gap_report_seconds)
            if gap is not None:
                log.warning("monitor.gap_detected", seconds=round(fact.gap_seconds or 0.0, 1))
                self.apply([gap], self.clock())
        since = self.first_since_ns if first else (fact.since_ns or int((fact.lost_at or fact.at) * 1e9))
        self.unjudged_since_ns = _earliest(since, self.unjudged_since_ns)
        reason = "start" if first else "reconnect"
        self.request(ReconcileRequested(reason=reason, since_ns=since), RECHECK_DELAY_SECONDS)

    async def recheck(self, reason: str, *, since_ns: int | None) -> None:
        now = self.clock()
        result = await self.handler.recheck(since_ns=since_ns, now=now, found_by=_found_by(reason, since_ns))
        if result is None:
            return
        findings, present = result
        if since_ns is not None and self.unjudged_since_ns is not None and since_ns <= self.unjudged_since_ns:
            self.unjudged_since_ns = None
        self.metrics.rechecks.labels(reason=reason).inc()
        self.apply(findings, now)
        notices = []
        for incident in self.incidents.firing():
            if incident.container_id and incident.container_id not in present:
                notices.extend(self.book.resolve(incident, "the container no longer exists", now, quiet=True))
        if notices and self.dispatcher.submit(notices, now):
            self.wake()
        log.info("monitor.rechecked", reason=reason, containers=len(present), findings=len(findings))

    async def _on_timer(self, now: float) -> None:
        self.apply(await self.handler.pending_ooms(now), now)
        notices = self.book.due(now)
        recovery = self.settings.monitor_recovery_seconds
        connected = self.stream_up()
        for incident in self.incidents.firing():
            if incident.resolve_pending_since is not None or now - incident.last_seen_at < recovery:
                continue
            if incident.kind in RECOVERY_KINDS and incident.container_id:
                if self.handler.is_running(incident.container_id):
                    reason = f"the container has run for {human_duration(recovery)} without dying again"
                    notices.extend(self.book.resolve(incident, reason, now))
            elif incident.kind is Kind.MONITOR_GAP and connected:
                notices.extend(self.book.resolve(incident, "the event stream is stable again", now))
        if notices and self.dispatcher.submit(notices, now):
            self.wake()
        self.grouper.flush(now)
        if self.outbox.pending()["ready"]:
            self.wake()
        counts = self.incidents.counts()
        for kind in Kind:
            for state in ("firing", "resolved"):
                self.metrics.incidents.labels(kind=kind.value, state=state).set(
                    counts.get((kind.value, state), 0)
                )

    def _on_disk(self, measured: DiskUsageMeasured, now: float) -> None:
        settings = self.settings
        probe = Finding(kind=Kind.DISK_PRESSURE, attribution=HOST, subject=measured.path)
        current = self.incidents.get(self.book.fingerprint_of(probe))
        finding = disk_pressure(
            measured,
            firing=current is not None and current.state == "firing",
            warning=settings.monitor_disk_warning_percent,
            critical=settings.monitor_disk_critical_percent,
            clear_margin=settings.monitor_disk_clear_margin_percent,
            at=now,
        )
        if finding is not None:
            self.apply([finding], now)

    def _on_volumes(self, measured: VolumesMeasured, now: float) -> None:
        settings = self.settings
        findings: list[Finding] = []
        seen: set[tuple[str | None, str | None]] = set()
        for usage in group_by_stack(measured, self.handler.attribute):
            attribution = usage.attribution
            seen.add((attribution.tenant, attribution.stack))
            budget = (
                self.directory.volume_budget(attribution.template, attribution.plan)
                if attribution.template and attribution.plan
                else None
            )
            probe = Finding(kind=Kind.VOLUME_QUOTA, attribution=attribution, subject="volumes")
            current = self.incidents.get(self.book.fingerprint_of(probe))
            finding = volume_quota(
                usage,
                budget_bytes=budget,
                firing=current is not None and current.state == "firing",
                warning=settings.monitor_volume_warning_percent,
                critical=settings.monitor_volume_critical_percent,
                clear_margin=settings.monitor_disk_clear_margin_percent,
                at=now,
            )
            if finding is not None:
                findings.append(finding)
        self.apply(findings, now)
        notices = []
        for incident in self.incidents.firing():
            if incident.kind is Kind.VOLUME_QUOTA and (incident.tenant, incident.stack) not in seen:
                notices.extend(self.book.resolve(incident, "the stack's volumes are gone", now))
        if notices and self.dispatcher.submit(notices, now):
            self.wake()


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
