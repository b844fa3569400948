"""Tests for monitor.delivery: the outbox drained through a notifier, with retries."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from monitor.delivery import Deliverer
from monitor.messages import Message, render
from monitor.metrics import MonitorMetrics
from monitor.notifier import DeliveryOutcome, DeliveryStatus
from monitor.outbox import Outbox
from monitor.store import Database
from tests.monitor.fakes import T0, item

pytestmark = pytest.mark.anyio


class ScriptedNotifier:
    """Returns the scripted outcomes in order and records what it was asked to send."""

    def __init__(self, *outcomes: DeliveryStatus) -> None:
        self.outcomes = list(outcomes)
        self.sent: list[str] = []

    def send(self, message: Message) -> DeliveryOutcome:
        self.sent.append(message.title)
        return DeliveryOutcome(status=self.outcomes.pop(0), detail="scripted")


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


async def test_a_failed_delivery_is_retried_later_and_then_removed(tmp_path: Path) -> None:
    """FAILED keeps the row with a backoff; DELIVERED removes it; metrics count both."""
    db = Database(tmp_path / "m.db")
    outbox, clock, metrics = Outbox(db), Clock(), MonitorMetrics()
    notifier = ScriptedNotifier(DeliveryStatus.FAILED, DeliveryStatus.DELIVERED)
    deliverer = Deliverer(outbox, notifier, metrics, clock=clock, retry_max=300)
    outbox.enqueue(render([item()], host="h", window=0, runbook_base="https://x/"), T0)
    with capture_logs() as logs:
        row = outbox.next_due(clock())
        assert row is not None
        assert (await deliverer.deliver(row)).status is DeliveryStatus.FAILED
        assert outbox.next_due(clock()) is None
        clock.now += 1.0
        retry = outbox.next_due(clock())
        assert retry is not None and retry.attempts == 1
        assert (await deliverer.deliver(retry)).status is DeliveryStatus.DELIVERED
    assert outbox.pending() == {"held": 0, "ready": 0}
    assert [e["event"] for e in logs] == ["monitor.notification_failed", "monitor.notification_sent"]
    assert metrics.notifications.labels(result="sent")._value.get() == 1
    assert metrics.notifications.labels(result="failed")._value.get() == 1
    db.close()


async def test_unrouted_messages_leave_the_outbox(tmp_path: Path) -> None:
    """No service takes the tag: nothing to retry, logged as unrouted."""
    db = Database(tmp_path / "m.db")
    outbox = Outbox(db)
    deliverer = Deliverer(
        outbox, ScriptedNotifier(DeliveryStatus.UNROUTED), MonitorMetrics(), clock=Clock(), retry_max=1
    )
    outbox.enqueue(render([item()], host="h", window=0, runbook_base="https://x/"), T0)
    row = outbox.next_due(T0)
    assert row is not None
    with capture_logs() as logs:
        await deliverer.deliver(row)
    assert outbox.pending()["ready"] == 0
    assert logs[0]["event"] == "monitor.notification_unrouted"
    db.close()


async def test_a_poke_at_the_moment_of_stopping_still_ends_the_loop(tmp_path: Path) -> None:
    """The monitor stops by cancelling the delivery loop; a poke in the same instant must not swallow
    that cancellation (``asyncio.wait_for`` on Python 3.11 returns instead when the awaited event is set
    as the cancel arrives, and the monitor then never stopped)."""
    db = Database(tmp_path / "m.db")
    try:
        deliverer = Deliverer(Outbox(db), ScriptedNotifier(), MonitorMetrics(), clock=Clock(), retry_max=1)
        loop = asyncio.create_task(deliverer.run())
        for _ in range(5):  # into its wait for a poke
            await asyncio.sleep(0)
        deliverer.poke()
        loop.cancel()
        done, _ = await asyncio.wait({loop}, timeout=30)
        assert loop in done and loop.cancelled()
    finally:
        db.close()
