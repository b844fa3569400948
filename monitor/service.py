"""The monitor sidecar: wiring and the loops around one processing queue.

Threads: the event reader, a small fixed pool for blocking calls (inspect, statvfs, Apprise, the
heartbeat), and the asyncio loop that runs everything else. Nothing scales with the number of
containers. Every fact (event, stream change, measurement, timer) goes through one queue and is
handled by one task, so incident state has a single writer.

    reader thread ─► queue ─► Router ─► Detection ─► IncidentBook ─► Alerts ─► outbox ─► Deliverer
                                      (inspect + detectors)          (policy, render, group)   (Apprise)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pydantic import SecretStr

from monitor import disk_probe, heartbeat
from monitor.alerts import Alerts
from monitor.delivery import Deliverer
from monitor.detection import Detection, DetectionSettings
from monitor.directory import StackDirectory, StaticDirectory, catalog_budgets
from monitor.events import ContainerEventReceived, MonitorEvent, RecheckRequested, TimerFired
from monitor.http import StatusServer
from monitor.incidents import IncidentBook, IncidentStore
from monitor.inspector import Inspector, docker_client_factory
from monitor.metrics import MonitorMetrics
from monitor.notifier import AppriseNotifier, LogOnlyNotifier, Notifier
from monitor.policy import Policy
from monitor.reader import EventReader
from monitor.router import Router
from monitor.silences import SilenceStore
from monitor.store import Database, db_path
from shared import redaction
from shared.logging import get_logger
from shared.settings import Settings

log = get_logger()

IO_THREADS = 4
CURSOR_KEY = "events.cursor"
RESOLVED_RETENTION_SECONDS = 30 * 86400
# Bound of the processing queue; beyond it events are dropped and a re-check since the first dropped
# event takes their place (the state is what matters, and it is re-read).
MAX_QUEUE = 100_000


class Monitor:
    """One monitor for one Docker host. ``await run()`` until ``request_stop()``."""

    def __init__(
        self,
        settings: Settings,
        *,
        docker_factory: Callable[[], Any] | None = None,
        notifier: Notifier | None = None,
        directory: StackDirectory | None = None,
        mirror: Any | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.host = settings.monitor_host_name or socket.gethostname()
        self.clock = clock
        self.metrics = MonitorMetrics()
        factory = docker_factory or docker_client_factory(settings.monitor_docker_url)
        self._docker_factory = factory
        self.inspector = Inspector(factory)
        self.directory: StackDirectory = directory or StaticDirectory(
            budgets=catalog_budgets(settings.templates_dir)
        )
        self.mirror = mirror
        redaction.register(settings.monitor_heartbeat_url, settings.apprise_urls)
        self.notifier: Notifier = notifier if notifier is not None else _notifier_from(settings)
        self.detection = Detection(
            self.inspector,
            self.directory,
            DetectionSettings(
                intent_window=settings.monitor_stop_intent_seconds,
                oom_confirm=settings.monitor_oom_confirm_seconds,
                loop_threshold=settings.monitor_crash_loop_count,
                loop_window=settings.monitor_crash_loop_window_seconds,
                disk_warning=settings.monitor_disk_warning_percent,
                disk_critical=settings.monitor_disk_critical_percent,
                clear_margin=settings.monitor_disk_clear_margin_percent,
                volume_warning=settings.monitor_volume_warning_percent,
                volume_critical=settings.monitor_volume_critical_percent,
                gap_report=settings.monitor_gap_report_seconds,
            ),
        )
        self.started = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._queue: asyncio.Queue[MonitorEvent] | None = None
        self._cursor_saved: tuple[int, str, str] | None = None
        self._dropped_since_ns: int | None = None
        self.router: Router | None = None
        self._processing: asyncio.Task[None] | None = None
        self.reader: EventReader | None = None

    # --- lifecycle -------------------------------------------------------------------------------------

    def request_stop(self) -> None:
        """Thread-safe: ask ``run`` to finish."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)

    async def run(self) -> None:
        settings = self.settings
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._stop = asyncio.Event()
        executor = ThreadPoolExecutor(max_workers=IO_THREADS, thread_name_prefix="monitor-io")
        loop.set_default_executor(executor)
        self._queue = asyncio.Queue()
        self.db = Database(db_path(settings.data_dir))
        self.incidents = IncidentStore(self.db)
        self.silences = SilenceStore(self.db)
        self.book = IncidentBook(
            self.incidents,
            host=self.host,
            resolve_hold=settings.monitor_resolve_hold_seconds,
            repeat_interval=settings.monitor_repeat_interval_seconds,
            recovery=settings.monitor_recovery_seconds,
        )
        self.alerts = Alerts(
            self.db,
            Policy(self.silences, self.directory),
            self.metrics,
            host=self.host,
            window=settings.monitor_group_window_seconds,
            runbook_base=settings.runbook_base_url,
        )
        self.outbox = self.alerts.outbox
        self.deliverer = Deliverer(
            self.outbox,
            self.notifier,
            self.metrics,
            clock=self.clock,
            retry_max=settings.monitor_notify_retry_max_seconds,
        )
        cursor = self._load_cursor()
        self.reader = EventReader(
            self._docker_factory,
            self._deliver_threadsafe,
            cursor_ns=cursor[0] if cursor else None,
            seen=[cursor] if cursor else [],
            reconnect_max=settings.monitor_reconnect_max_seconds,
            clock=self.clock,
            on_replayed_duplicate=self.metrics.replayed.inc,
        )
        first_since_ns = (
            cursor[0] if cursor else int((self.clock() - settings.monitor_reconcile_lookback_seconds) * 1e9)
        )
        self.router = Router(
            detection=self.detection,
            book=self.book,
            alerts=self.alerts,
            metrics=self.metrics,
            clock=self.clock,
            wake=self.deliverer.poke,
            stream_up=self.reader.connected.is_set,
            schedule=self._schedule,
            first_since_ns=first_since_ns,
        )
        log.info(
            "monitor.started",
            host=self.host,
            last_event=cursor[0] if cursor else None,
            notifier=type(self.notifier).__name__,
            directory=type(self.directory).__name__,
        )
        await self._refresh_directory()
        tasks: list[asyncio.Task[None]] = []
        server: StatusServer | None = None
        try:
            self._processing = asyncio.create_task(self._process(), name="monitor-process")
            tasks.append(self._processing)
            tasks.append(asyncio.create_task(self.deliverer.run(), name="monitor-deliver"))
            for name, period, fn, delayed in (
                ("tick", settings.monitor_tick_seconds, self._tick, False),
                ("disk", settings.monitor_disk_interval_seconds, self._measure_disks, False),
                ("recheck", settings.monitor_reconcile_interval_seconds, self._periodic_recheck, True),
                ("watchdog", settings.monitor_ping_interval_seconds, self._watchdog, True),
                ("directory", settings.monitor_directory_refresh_seconds, self._refresh_directory, True),
            ):
                job = _every(period, fn, delay=period if delayed else 0.0)
                tasks.append(asyncio.create_task(job, name=f"monitor-{name}"))
            if settings.monitor_volume_interval_seconds > 0:
                tasks.append(
                    asyncio.create_task(
                        _every(settings.monitor_volume_interval_seconds, self._measure_volumes),
                        name="monitor-volumes",
                    )
                )
            if _secret(settings.monitor_heartbeat_url):
                tasks.append(
                    asyncio.create_task(
                        _every(settings.monitor_heartbeat_interval_seconds, self._heartbeat),
                        name="monitor-heartbeat",
                    )
                )
            if self.mirror is not None:
                tasks.append(
                    asyncio.create_task(
                        _every(settings.monitor_mirror_interval_seconds, self._mirror), name="monitor-mirror"
                    )
                )
            tasks.append(asyncio.create_task(_every(3600.0, self._housekeeping), name="monitor-housekeeping"))
            if settings.monitor_http_port:
                server = StatusServer(
                    self.health, self.metrics.registry, settings.monitor_http_host, settings.monitor_http_port
                )
                await server.start()
            self.reader.start()
            self.started.set()
            await self._stop.wait()
        finally:
            log.info("monitor.stopping")
            if self.reader is not None:
                # Close the stream and go on: the reader thread (a daemon) ends by itself, and may be
                # blocked connecting to a daemon that stopped answering.
                self.reader.stop(timeout=0.0)
            if server is not None:
                await server.close()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._save_cursor()
            self.inspector.close()
            if self.mirror is not None:
                await self.mirror.aclose()
            self.db.close()
            executor.shutdown(wait=False, cancel_futures=True)
            # asyncio.run() would wait for the default executor's threads, and one may be blocked in a
            # call to a daemon that stopped answering (bounded only by the client's timeout, retried
            # once). Hand asyncio an empty pool instead: stopping never waits on Docker.
            loop.set_default_executor(ThreadPoolExecutor(max_workers=1))
            log.info("monitor.stopped")

    # --- health ----------------------------------------------------------------------------------------

    def health(self) -> tuple[bool, dict[str, Any]]:
        """Healthy while processing runs and the event stream is up (or lost for under a minute)."""
        now = self.clock()
        connected = self.reader is not None and self.reader.connected.is_set()
        lost_at = self.router.stream_lost_at if self.router is not None else None
        lost_for = None if connected or lost_at is None else now - lost_at
        cursor = self.router.cursor if self.router is not None else None
        processing = self._processing is not None and not self._processing.done()
        reader_alive = self.reader is not None and self.reader.alive
        pending = self.outbox.pending() if hasattr(self, "outbox") else {"ready": 0, "held": 0}
        ok = processing and reader_alive and (connected or (lost_for is not None and lost_for < 60))
        return ok, {
            "host": self.host,
            "stream_connected": connected,
            "stream_lost_seconds": None if lost_for is None else round(lost_for, 1),
            "processing": processing,
            "last_event_age_seconds": None if cursor is None else round(now - cursor[0] / 1e9, 1),
            "outbox": pending,
            "queue": self._queue.qsize() if self._queue is not None else 0,
        }

    # --- the queue -------------------------------------------------------------------------------------

    def _deliver_threadsafe(self, event: MonitorEvent) -> None:
        """Called on the reader thread: hand over and return at once."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed while stopping
            loop.call_soon_threadsafe(self._enqueue, event)

    def _enqueue(self, event: MonitorEvent) -> None:
        assert self._queue is not None
        if isinstance(event, ContainerEventReceived) and self._queue.qsize() >= MAX_QUEUE:
            self.metrics.events_dropped.inc()
            if self._dropped_since_ns is None:
                self._dropped_since_ns = event.time_nano
                log.error("monitor.events_dropped", queue=self._queue.qsize())
            return
        self._queue.put_nowait(event)

    def _schedule(self, event: MonitorEvent, delay: float) -> None:
        assert self._loop is not None
        self._loop.call_later(delay, self._enqueue, event)

    async def _process(self) -> None:
        assert self._queue is not None and self.router is not None
        while True:
            event = await self._queue.get()
            try:
                await self.router.handle(event)
            except Exception:  # one bad event must not stop monitoring
                log.exception("monitor.processing_failed", event_type=type(event).__name__)

    # --- periodic producers ----------------------------------------------------------------------------

    async def _tick(self) -> None:
        if self._dropped_since_ns is not None:
            since, self._dropped_since_ns = self._dropped_since_ns, None
            self._enqueue(RecheckRequested(reason="overflow", since_ns=since))
        self._enqueue(TimerFired(at=self.clock()))
        self._save_cursor()

    async def _periodic_recheck(self) -> None:
        self._enqueue(RecheckRequested(reason="periodic", since_ns=None))

    async def _measure_disks(self) -> None:
        for path in self.settings.monitor_disk_paths:
            try:
                measured = await asyncio.to_thread(disk_probe.measure, path)
            except OSError as err:
                log.warning("monitor.disk_unreadable", path=str(path), error=type(err).__name__)
                continue
            self._enqueue(measured)

    async def _measure_volumes(self) -> None:
        try:
            measured = await asyncio.to_thread(self.inspector.volumes)
        except Exception as err:  # df may fail while the daemon restarts; try next period
            log.warning("monitor.volumes_unreadable", error=type(err).__name__)
            return
        self._enqueue(measured)

    async def _watchdog(self) -> None:
        if self.reader is None or not self.reader.connected.is_set():
            return
        try:
            await asyncio.to_thread(self.inspector.ping)
        except Exception as err:  # a daemon that does not answer pings cannot be streaming events
            log.warning("monitor.ping_failed", error=type(err).__name__)
            self.reader.interrupt("ping failed")

    async def _heartbeat(self) -> None:
        url = self.settings.monitor_heartbeat_url
        if url is None or not _secret(url):
            return
        ok, details = self.health()
        if not ok:
            self.metrics.heartbeats.labels(result="skipped").inc()
            log.warning(
                "monitor.heartbeat_skipped", reason="unhealthy", stream_connected=details["stream_connected"]
            )
            return
        sent = await asyncio.to_thread(heartbeat.ping, url)
        self.metrics.heartbeats.labels(result="sent" if sent else "failed").inc()
        if not sent:
            log.warning("monitor.heartbeat_failed")

    async def _refresh_directory(self) -> None:
        try:
            await self.directory.refresh()
        except Exception as err:  # keep the last known records; attribution by labels still works
            log.warning("monitor.directory_refresh_failed", error=type(err).__name__, detail=str(err)[:200])

    async def _mirror(self) -> None:
        assert self.mirror is not None
        incidents = self.incidents.unmirrored()
        if not incidents:
            return
        try:
            done = await self.mirror.push(incidents)
        except Exception as err:  # PocketBase down: SQLite stays the source of truth; retry later
            log.warning("monitor.mirror_failed", error=type(err).__name__)
            return
        for incident in done:
            self.incidents.mark_mirrored(incident)

    async def _housekeeping(self) -> None:
        """Forget resolved incidents and ended silences after the retention period."""
        before = self.clock() - RESOLVED_RETENTION_SECONDS
        incidents = self.incidents.prune(before, mirrored_only=self.mirror is not None)
        silences = self.silences.prune(before)
        if incidents or silences:
            log.info("monitor.pruned", incidents=incidents, silences=silences)

    # --- cursor ----------------------------------------------------------------------------------------

    def _load_cursor(self) -> tuple[int, str, str] | None:
        raw = self.db.get(CURSOR_KEY)
        if raw is None:
            return None
        ns, container_id, action = json.loads(raw)
        return int(ns), str(container_id), str(action)

    def _save_cursor(self) -> None:
        cursor = self.router.cursor if self.router is not None else None
        if cursor is not None and cursor != self._cursor_saved:
            self.db.put(CURSOR_KEY, json.dumps(list(cursor)))
            self._cursor_saved = cursor


async def _every(period: float, fn: Callable[[], Coroutine[Any, Any, None]], *, delay: float = 0.0) -> None:
    """Run ``fn`` after ``delay`` and then every ``period`` seconds; a failure is logged, never fatal."""
    await asyncio.sleep(delay)
    while True:
        try:
            await fn()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("monitor.periodic_failed", task=getattr(fn, "__name__", "?"))
        await asyncio.sleep(period)


def _secret(value: SecretStr | None) -> str:
    """The secret's value; an unset or blank variable (``${X:-}`` in compose) counts as not configured."""
    return value.get_secret_value().strip() if value is not None else ""


def _notifier_from(settings: Settings) -> Notifier:
    if not _secret(settings.apprise_urls) and settings.apprise_config is None:
        log.warning("monitor.no_apprise_urls", advice="set CFA_APPRISE_URLS or CFA_APPRISE_CONFIG")
        return LogOnlyNotifier()
    return AppriseNotifier.from_settings(settings)
