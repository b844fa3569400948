"""The delivery loop: drains the outbox through the notifier, off the event path, with retries.

A failed message stays in the outbox with exponential backoff (capped) and is retried until it is
delivered; other messages are not blocked behind it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from monitor.metrics import MonitorMetrics
from monitor.notifier import DeliveryOutcome, DeliveryStatus, Notifier
from monitor.outbox import Outbox, OutboxRow
from shared.logging import get_logger

log = get_logger()

FIRST_RETRY_SECONDS = 1.0


class Deliverer:
    def __init__(
        self,
        outbox: Outbox,
        notifier: Notifier,
        metrics: MonitorMetrics,
        *,
        clock: Callable[[], float],
        retry_max: float,
        idle_wait: float = 1.0,
    ) -> None:
        self.outbox = outbox
        self.notifier = notifier
        self.metrics = metrics
        self.clock = clock
        self.retry_max = retry_max
        self.idle_wait = idle_wait
        self.wakeup = asyncio.Event()

    def poke(self) -> None:
        """Something was queued: look at the outbox now."""
        self.wakeup.set()

    async def run(self) -> None:
        while True:
            row = self.outbox.next_due(self.clock())
            if row is None:
                self._update_gauge()
                next_at = self.outbox.next_attempt_at()
                wait = (
                    self.idle_wait
                    if next_at is None
                    else max(0.0, min(self.idle_wait, next_at - self.clock()))
                )
                self.wakeup.clear()
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation that
                # arrives as the poke does, and the monitor would never stop.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await self.wakeup.wait()
                continue
            await self.deliver(row)

    async def deliver(self, row: OutboxRow) -> DeliveryOutcome:
        message = row.message
        try:
            outcome = await asyncio.to_thread(self.notifier.send, message)
        except Exception as err:  # a notifier bug must not kill delivery; the row stays queued
            outcome = DeliveryOutcome(status=DeliveryStatus.FAILED, detail=f"{type(err).__name__}")
        now = self.clock()
        incidents = [item.incident_id for item in message.items]
        if outcome.status is DeliveryStatus.FAILED:
            delay = min(self.retry_max, FIRST_RETRY_SECONDS * 2.0**row.attempts)
            self.outbox.failed(row.id, error=outcome.detail, retry_at=now + delay)
            self.metrics.notifications.labels(result="failed").inc()
            log.warning(
                "monitor.notification_failed",
                title=message.title,
                attempt=row.attempts + 1,
                retry_in=round(delay, 1),
                detail=outcome.detail,
            )
        else:
            self.outbox.delivered(row.id)
            result = "sent" if outcome.status is DeliveryStatus.DELIVERED else "unrouted"
            self.metrics.notifications.labels(result=result).inc()
            self.metrics.delivery_delay.observe(max(0.0, now - row.created_at))
            log.info(
                "monitor.notification_sent" if result == "sent" else "monitor.notification_unrouted",
                title=message.title,
                tag=message.tag,
                incidents=incidents,
                attempts=row.attempts + 1,
                detail=outcome.detail or None,
            )
        self._update_gauge()
        return outcome

    def _update_gauge(self) -> None:
        pending = self.outbox.pending()
        self.metrics.outbox.labels(state="ready").set(pending["ready"])
        self.metrics.outbox.labels(state="held").set(pending["held"])
