"""Detection: every event that may reveal a problem becomes :class:`Detected` findings here.

Container events, the wait after an ``oom``, re-checks, disk and volume measurements, and the event
stream's gaps. It keeps the per-container history the detectors need (operator intent, pending OOMs,
deaths), inspects a container when an event needs its real state, and calls the pure detectors in
:mod:`monitor.detectors`. It never reads incidents and never decides about messages.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from monitor.attribution import Attribution, attribute
from monitor.detectors import crash, crash_loop, health, oom
from monitor.detectors.deaths import DeathCause, classify_death, event_exit_code, stops_container
from monitor.detectors.disk import disk_pressure
from monitor.detectors.gap import stream_gap
from monitor.detectors.recheck import recheck
from monitor.detectors.volume import group_by_stack, volume_quota
from monitor.directory import StackDirectory
from monitor.events import (
    ContainerEventReceived,
    DiskUsageMeasured,
    OomWaitEnded,
    StreamConnected,
    VolumesMeasured,
)
from monitor.findings import Finding, Kind
from monitor.history import ContainerHistory, HistoryBook
from monitor.inspector import DockerUnavailable
from monitor.snapshot import ContainerSnapshot
from shared.logging import get_logger

log = get_logger()

CONTAINER_KINDS = (Kind.CONTAINER_UNHEALTHY, Kind.OOM_KILLED, Kind.CONTAINER_CRASHED, Kind.CRASH_LOOP)


class ContainerInspector(Protocol):
    def inspect(self, container_id: str) -> ContainerSnapshot | None:
        """Current state; None when the container is gone. Raises DockerUnavailable."""

    def snapshots(self) -> list[ContainerSnapshot]:
        """Every container's state. Raises DockerUnavailable."""


@dataclass(frozen=True)
class DetectionSettings:
    intent_window: float = 300.0
    oom_confirm: float = 1.0
    loop_threshold: int = 3
    loop_window: float = 600.0
    disk_warning: float = 80.0
    disk_critical: float = 90.0
    clear_margin: float = 5.0
    volume_warning: float = 90.0
    volume_critical: float = 100.0
    gap_report: float = 5.0


@dataclass
class Detected:
    """What one event revealed. ``later`` is an event for the router to schedule after a delay (the end
    of an OOM's wait for its ``die``). ``containers`` (after a re-check) and ``volume_stacks``
    (after a volume measurement) list everything that exists now, so that incidents of what is gone can
    end; None when the event does not say."""

    findings: list[Finding] = field(default_factory=list)
    later: tuple[OomWaitEnded, float] | None = None
    containers: set[str] | None = None
    volume_stacks: set[tuple[str | None, str | None]] | None = None


class Detection:
    def __init__(
        self, inspector: ContainerInspector, directory: StackDirectory, settings: DetectionSettings
    ) -> None:
        self.inspector = inspector
        self.directory = directory
        self.settings = settings
        self.history = HistoryBook()

    def attribute(self, labels: Mapping[str, str]) -> Attribution:
        return attribute(labels, self.directory)

    def is_running(self, container_id: str) -> bool | None:
        history = self.history.get(container_id)
        return None if history is None else history.running

    async def _inspect(self, container_id: str) -> ContainerSnapshot | None:
        snapshot, _gone = await self._inspect_or_gone(container_id)
        return snapshot

    async def _inspect_or_gone(self, container_id: str) -> tuple[ContainerSnapshot | None, bool]:
        """The container's state, and whether Docker said it no longer exists (False when unreachable)."""
        try:
            snapshot = await asyncio.to_thread(self.inspector.inspect, container_id)
        except DockerUnavailable as err:
            log.warning("monitor.inspect_failed", container=container_id[:12], error=err.message)
            return None, False
        return snapshot, snapshot is None

    async def container_event(self, event: ContainerEventReceived) -> Detected:
        if event.verb == "oom":
            return self._oom(event)
        return Detected(await self._container_event(event))

    def _oom(self, event: ContainerEventReceived) -> Detected:
        """Wait for a ``die`` (container killed) before judging; several ``oom`` events of one kill
        share the first one's wait."""
        history = self.history.touch(event.container_id, event.name)
        if history.pending_oom_nano is not None:
            return Detected()
        history.pending_oom_at = event.time
        history.pending_oom_nano = event.time_nano
        wait = OomWaitEnded(container_id=event.container_id, oom_time_nano=event.time_nano)
        return Detected(later=(wait, self.settings.oom_confirm))

    async def _container_event(self, event: ContainerEventReceived) -> list[Finding]:
        history = self.history.touch(event.container_id, event.name)
        verb = event.verb
        if verb == "start":
            history.running = True
            history.kill_intent_at = None
            history.labels = _labels_of(event)
            # The configuration (restart policy, limits, image) lets a later death be judged from its
            # die event alone, without waiting for inspect while the daemon cleans the container up.
            snapshot = await self._inspect(event.container_id)
            if snapshot is not None:
                history.remember(snapshot)
            return []
        if verb == "kill":
            # A label named "signal" overwrites the event's attribute; labels not known yet may hold one.
            labels_known = history.snapshot is not None or bool(history.labels)
            spoofable = not labels_known or "signal" in history.labels
            stop_signal = history.snapshot.stop_signal if history.snapshot is not None else None
            if stops_container(event.attributes.get("signal"), stop_signal=stop_signal, spoofable=spoofable):
                history.kill_intent_at = event.time
            return []
        if verb in ("stop", "restart"):
            history.kill_intent_at = event.time
            return []
        if verb == "die":
            return await self._died(event, history)
        if verb == "destroy":
            self.history.forget(event.container_id)
            return removed(event.name, event.container_id, self.attribute(history.labels or event.attributes))
        if verb == "health_status":
            return await self._health(event, history)
        return []

    async def _health(self, event: ContainerEventReceived, history: ContainerHistory) -> list[Finding]:
        if event.health == "healthy":
            attribution = self.attribute(history.labels or event.attributes)
            return [health.over(event.name, event.container_id, attribution, reason=health.HEALTHY_AGAIN)]
        if event.health != "unhealthy":
            return []
        snapshot = await self._inspect(event.container_id)
        if snapshot is None:
            return []
        history.remember(snapshot)
        found = health.unhealthy(snapshot, self.attribute(snapshot.labels), occurred_at=event.time)
        return [found] if found is not None else []

    async def _died(self, event: ContainerEventReceived, history: ContainerHistory) -> list[Finding]:
        snapshot = _after_death(event, history)
        gone = False
        if snapshot is None:
            snapshot, gone = await self._inspect_or_gone(event.container_id)
        if snapshot is not None:
            history.remember(snapshot)
            history.judged_until_ns = max(snapshot.finished_at_ns or 0, event.time_nano)
        else:
            history.running = False
        attribution = self.attribute(snapshot.labels if snapshot else (history.labels or event.attributes))
        settings = self.settings
        exit_code = event_exit_code(event.attributes, history.labels or None) if gone else None
        cause = classify_death(
            snapshot,
            died_at=event.time,
            kill_intent_at=history.kill_intent_at,
            oom_at=history.pending_oom_at,
            intent_window=settings.intent_window,
            oom_window=settings.oom_confirm,
            exit_code=exit_code,
        )
        log.info(
            "monitor.container_died",
            container=event.name,
            cause=cause.value,
            exit_code=snapshot.exit_code if snapshot and not snapshot.running else exit_code,
            removed=gone,
            tenant=attribution.tenant,
            stack=attribution.stack,
        )
        stopped = f"the container stopped ({cause.value})"
        findings = [health.over(event.name, event.container_id, attribution, reason=stopped)]
        if cause is DeathCause.OPERATOR:
            return findings
        if cause is DeathCause.OOM:
            history.pending_oom_at = history.pending_oom_nano = None
            history.oom_kills.append(event.time)
            recent = sum(1 for t in history.oom_kills if event.time - t <= settings.loop_window)
            snapshot = snapshot or _removed_before_inspect(event, history, exit_code)
            findings.append(
                oom.container_oom_killed(
                    snapshot,
                    attribution,
                    kills_in_window=recent,
                    window=settings.loop_window,
                    occurred_at=event.time,
                )
            )
            return findings
        history.deaths.append(event.time)
        loop = self._crash_loop(history, snapshot, attribution, now=event.time)
        if loop is not None:
            findings.append(loop)
        elif snapshot is not None:
            crashed = crash.crashed(snapshot, attribution, cause, occurred_at=event.time)
            if crashed is not None:
                findings.append(crashed)
        elif cause is DeathCause.CRASH and exit_code is not None:
            findings.append(
                crash.crashed_and_removed(
                    name=event.name,
                    container_id=event.container_id,
                    image=event.attributes.get("image", ""),
                    exit_code=exit_code,
                    attribution=attribution,
                    occurred_at=event.time,
                )
            )
        return findings

    def _crash_loop(
        self,
        history: ContainerHistory,
        snapshot: ContainerSnapshot | None,
        attribution: Attribution,
        *,
        now: float,
    ) -> Finding | None:
        """A crash-loop finding when the container's recorded deaths within the window reach the threshold."""
        return crash_loop.crash_loop(
            name=history.name,
            container_id=history.container_id,
            snapshot=snapshot,
            attribution=attribution,
            deaths=list(history.deaths),
            now=now,
            threshold=self.settings.loop_threshold,
            window=self.settings.loop_window,
        )

    async def oom_wait_ended(self, event: OomWaitEnded) -> Detected:
        """No ``die`` came after the ``oom``: if the container still runs, a process inside was killed."""
        history = self.history.get(event.container_id)
        if history is None or history.pending_oom_nano != event.oom_time_nano:
            return Detected()  # the die came (or the container is gone): judged there
        history.pending_oom_at = history.pending_oom_nano = None
        snapshot = await self._inspect(event.container_id)
        if snapshot is None:
            return Detected()
        history.remember(snapshot)
        if not snapshot.running:
            return Detected()
        history.oom_kills.append(event.oom_time_nano / 1e9)
        attribution = self.attribute(snapshot.labels)
        return Detected([oom.process_oom_killed(snapshot, attribution, oom_time_nano=event.oom_time_nano)])

    def stream_connected(self, event: StreamConnected) -> Detected:
        """A *re*connect after a long enough loss is a gap worth one warning."""
        gap = stream_gap(event, threshold=self.settings.gap_report)
        return Detected([gap] if gap is not None else [])

    def disk(self, measured: DiskUsageMeasured, now: float) -> Detected:
        """Level-triggered with hysteresis: firing at the warning level, over below warning - margin
        (an "over" for a path with no incident changes nothing)."""
        settings = self.settings
        found = disk_pressure(
            measured,
            warning=settings.disk_warning,
            critical=settings.disk_critical,
            clear_margin=settings.clear_margin,
            at=now,
        )
        return Detected([found] if found is not None else [])

    def volumes(self, measured: VolumesMeasured, now: float) -> Detected:
        """Each stack's volumes against its plan's budget; ``volume_stacks`` lists the stacks that still
        have volumes (a stack whose volumes are gone ends its incident)."""
        settings = self.settings
        findings: list[Finding] = []
        stacks: set[tuple[str | None, str | None]] = set()
        for usage in group_by_stack(measured, self.attribute):
            attribution = usage.attribution
            stacks.add((attribution.tenant, attribution.stack))
            budget = (
                self.directory.volume_budget(attribution.template, attribution.plan)
                if attribution.template and attribution.plan
                else None
            )
            found = volume_quota(
                usage,
                budget_bytes=budget,
                warning=settings.volume_warning,
                critical=settings.volume_critical,
                clear_margin=settings.clear_margin,
                at=now,
            )
            if found is not None:
                findings.append(found)
        return Detected(findings, volume_stacks=stacks)

    async def recheck(
        self,
        *,
        since_ns: int | None,
        now: float,
        until_ns: int | None = None,
        found_by: str = "a re-check",
    ) -> Detected | None:
        """Inspect every container: state-based findings, deaths from ``since_ns`` (None: none) until
        ``until_ns`` (None: now) not judged yet, and removal findings for containers we knew that are
        gone. None when Docker is unreachable. ``found_by`` tells a page of a death found this way how
        it was found."""
        try:
            snapshots = await asyncio.to_thread(self.inspector.snapshots)
        except DockerUnavailable as err:
            log.warning("monitor.recheck_failed", error=err.message)
            return None
        findings: list[Finding] = []
        present: set[str] = set()
        for snapshot in snapshots:
            present.add(snapshot.container_id)
            history = self.history.touch(snapshot.container_id, snapshot.name)
            before = history.snapshot
            history.remember(snapshot)
            attribution = self.attribute(snapshot.labels)
            finished = snapshot.finished_at_ns
            to_judge = (
                since_ns is not None
                and finished is not None
                and since_ns <= finished
                and (until_ns is None or finished < until_ns)
                and (history.judged_until_ns is None or finished > history.judged_until_ns)
            )
            window_start = since_ns if to_judge else None
            if to_judge:
                history.judged_until_ns = finished
            findings.extend(
                recheck(
                    snapshot,
                    attribution,
                    since_ns=window_start,
                    now=now,
                    loop_window=self.settings.loop_window,
                    kill_intent_at=history.kill_intent_at,
                    intent_window=self.settings.intent_window,
                    found_by=found_by,
                )
            )
            if (
                before is not None
                and snapshot.restart_count - before.restart_count >= self.settings.loop_threshold
            ):
                history.deaths.extend([now] * (snapshot.restart_count - before.restart_count))
                loop = self._crash_loop(history, snapshot, attribution, now=now)
                if loop is not None:
                    findings.append(loop)
        for history in self.history.all():
            if history.container_id not in present:
                self.history.forget(history.container_id)
                findings.extend(removed(history.name, history.container_id, self.attribute(history.labels)))
        self.history.prune(now, self.settings.loop_window)
        return Detected(findings, containers=present)


def removed(name: str, container_id: str, attribution: Attribution) -> list[Finding]:
    """A removed container ends every incident bound to it, quietly: a removal is not a recovery."""
    return [
        Finding(
            kind=kind,
            firing=False,
            quiet=True,
            attribution=attribution,
            subject=name,
            container_id=container_id,
            reason="the container was removed",
        )
        for kind in CONTAINER_KINDS
    ]


def _after_death(event: ContainerEventReceived, history: ContainerHistory) -> ContainerSnapshot | None:
    """The container's state after this death from its die event and the configuration inspected
    when it started, or None when inspect must decide: no configuration of this run, an exit code a
    label may have overwritten, or 137 without an ``oom`` event (OOMKilled is only in inspect)."""
    cached = history.snapshot
    if cached is None or cached.started_at_ns is None or cached.started_at_ns > event.time_nano:
        return None
    exit_code = event_exit_code(event.attributes, cached.labels)
    if exit_code is None or (exit_code == 137 and history.pending_oom_at is None):
        return None
    return cached.model_copy(
        update={
            "status": "exited",
            "running": False,
            "restarting": False,
            "oom_killed": False,
            "exit_code": exit_code,
            "finished_at_ns": event.time_nano,
            "health_status": None,
        }
    )


def _labels_of(event: ContainerEventReceived) -> dict[str, str]:
    """A ``start`` event's attributes are the container's labels plus ``image`` and ``name``."""
    return {k: v for k, v in event.attributes.items() if k not in ("image", "name")}


def _removed_before_inspect(
    event: ContainerEventReceived, history: ContainerHistory, exit_code: int | None
) -> ContainerSnapshot:
    """Stand-in state of an OOM-killed container removed before it could be inspected."""
    return ContainerSnapshot(
        container_id=event.container_id,
        name=event.name,
        image=event.attributes.get("image", ""),
        labels=dict(history.labels or event.attributes),
        status="removed",
        running=False,
        oom_killed=True,
        exit_code=exit_code or 0,
    )
