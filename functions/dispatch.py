"""The work queue of ``cfa serve``: events in, handlers run, nothing done twice at once.

- At most one handler runs per event key (a stack, a tenant, a secret input, a webhook receipt); an
  event that arrives while an event of its key and type is pending is absorbed by it, and one that
  arrives while its key runs is run once more afterwards (handlers re-read everything: level-triggered).
- At most ``concurrency`` handlers run at once.
- A handler asks to be run again later by raising :class:`Retry` (another process holds the tenant's
  lock, or a retryable failure with attempts left); the attempt count per key is passed to the handler
  and reset by a run that finishes.
- ``stop`` ends intake; ``drain`` lets running handlers finish within a grace period, then cancels them
  (their tenant locks are released on the way out).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from functions.events import AnyEvent
from functions.metrics import FunctionsMetrics
from shared.logging import get_logger

log = get_logger()

Handler = Callable[[AnyEvent, int], Awaitable[None]]


class Retry(Exception):
    """Run this event again in ``delay`` seconds; ``counts``: it uses up an attempt."""

    def __init__(self, delay: float, *, counts: bool = True, reason: str = "") -> None:
        super().__init__(reason)
        self.delay = delay
        self.counts = counts
        self.reason = reason


class Dispatcher:
    def __init__(
        self,
        handle: Handler,
        *,
        concurrency: int,
        metrics: FunctionsMetrics,
        name_of: Callable[[AnyEvent], str] = lambda e: type(e).__name__,
    ) -> None:
        self._handle = handle
        self._concurrency = concurrency
        self._metrics = metrics
        self._name_of = name_of
        self._pending: dict[str, dict[str, AnyEvent]] = {}  # key → type → the latest event
        self._ready: asyncio.Queue[str] = asyncio.Queue()
        self._running: set[str] = set()
        self._again: dict[str, dict[str, AnyEvent]] = {}
        self._attempts: dict[str, int] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._workers: list[asyncio.Task[None]] = []
        self._accepting = True
        self._idle = asyncio.Event()
        self._idle.set()
        self._none_running = asyncio.Event()
        self._none_running.set()

    # --- intake ------------------------------------------------------------------------------------------

    def submit(self, event: AnyEvent) -> None:
        """Queue ``event`` (never blocks); ignored once ``stop`` was called."""
        if not self._accepting:
            return
        self._metrics.events.labels(source=event.source, type=type(event).__name__).inc()
        self._enqueue(event)

    def _enqueue(self, event: AnyEvent) -> None:
        key, kind = event.key, type(event).__name__
        if key in self._running:
            self._again.setdefault(key, {})[kind] = event
            return
        if key in self._pending:
            self._pending[key][kind] = event
            return
        self._pending[key] = {kind: event}
        self._ready.put_nowait(key)
        self._changed()

    @property
    def depth(self) -> int:
        return sum(len(events) for events in self._pending.values()) + len(self._timers)

    @property
    def busy(self) -> bool:
        return bool(self._pending or self._running or self._timers)

    async def wait_idle(self) -> None:
        """Until nothing is pending, running or scheduled (tests and benchmarks)."""
        while self.busy:
            self._idle.clear()
            await self._idle.wait()

    def _changed(self) -> None:
        self._metrics.queue_depth.set(self.depth)
        self._metrics.running.set(len(self._running))
        if self.busy:
            self._idle.clear()
        else:
            self._idle.set()
        if self._running:
            self._none_running.clear()
        else:
            self._none_running.set()

    # --- work ---------------------------------------------------------------------------------------------

    def start(self) -> None:
        self._workers = [
            asyncio.create_task(self._work(), name=f"handler-{n}") for n in range(self._concurrency)
        ]

    async def _work(self) -> None:
        while True:
            key = await self._ready.get()
            events = self._pending.pop(key, None)
            if not events:
                continue
            self._running.add(key)
            self._changed()
            try:
                for event in events.values():
                    await self._run(key, event)
            finally:
                self._running.discard(key)
                for event in self._again.pop(key, {}).values():
                    if self._accepting:
                        self._enqueue(event)
                self._changed()

    async def _run(self, key: str, event: AnyEvent) -> None:
        name = self._name_of(event)
        tally = f"{key}|{type(event).__name__}"
        attempt = self._attempts.get(tally, 0) + 1
        started = time.monotonic()
        outcome = "ok"
        try:
            await self._handle(event, attempt)
            self._attempts.pop(tally, None)
        except Retry as retry:
            outcome = "retry" if retry.counts else "busy"
            if retry.counts:
                self._attempts[tally] = attempt
            log.info(
                "handler.retry",
                handler=name,
                key=key,
                attempt=attempt,
                delay=retry.delay,
                reason=retry.reason,
            )
            self._again.get(key, {}).pop(type(event).__name__, None)  # the retry re-reads anyway
            self._schedule(tally, event, retry.delay)
        except Exception:
            outcome = "error"
            self._attempts.pop(tally, None)
            log.exception("handler.crashed", handler=name, key=key)
        finally:
            self._metrics.outcomes.labels(handler=name, outcome=outcome).inc()
            self._metrics.latency.labels(handler=name).observe(time.monotonic() - started)

    def _schedule(self, tally: str, event: AnyEvent, delay: float) -> None:
        if not self._accepting:
            return
        previous = self._timers.pop(tally, None)
        if previous is not None:
            previous.cancel()

        def due() -> None:
            self._timers.pop(tally, None)
            if self._accepting:
                self._enqueue(event)
            self._changed()

        self._timers[tally] = asyncio.get_running_loop().call_later(delay, due)

    # --- shutdown -----------------------------------------------------------------------------------------

    def stop(self) -> None:
        """No more intake; scheduled retries are dropped (the catch-up sweep of the next start finds them)."""
        self._accepting = False
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._pending.clear()
        self._again.clear()
        self._changed()

    async def drain(self, grace: float) -> None:
        """Let running handlers finish for ``grace`` seconds, then cancel them and the workers."""
        try:
            await asyncio.wait_for(self._none_running.wait(), grace)
        except TimeoutError:
            log.warning("handler.cancelled_at_shutdown", keys=sorted(self._running))
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []
