"""The dispatcher: one handler per key at a time, duplicates absorbed, retries, a bounded drain."""

from __future__ import annotations

import asyncio

import pytest

from functions.dispatch import Dispatcher, Retry
from functions.events import AnyEvent, StackDriftFound, StackRecordChanged, TenantRecordChanged
from functions.metrics import FunctionsMetrics

pytestmark = pytest.mark.anyio


class Recorder:
    def __init__(self) -> None:
        self.seen: list[tuple[str, int]] = []
        self.running: set[str] = set()
        self.overlaps = 0
        self.gate = asyncio.Event()
        self.gate.set()
        self.retries: dict[str, int] = {}

    async def __call__(self, event: AnyEvent, attempt: int) -> None:
        if event.key in self.running:
            self.overlaps += 1
        self.running.add(event.key)
        try:
            await self.gate.wait()
            await asyncio.sleep(0.01)
            self.seen.append((f"{type(event).__name__}:{event.key}", attempt))
            left = self.retries.get(event.key, 0)
            if left:
                self.retries[event.key] = left - 1
                raise Retry(0.01)
        finally:
            self.running.discard(event.key)


def stack(stack_id: str) -> StackRecordChanged:
    return StackRecordChanged(stack_id=stack_id, source="realtime")


async def test_duplicates_are_absorbed_and_a_key_never_runs_twice_at_once() -> None:
    """Ten events for one stack while it is busy: at most one more run, never two at the same time;
    other keys run in parallel."""
    handler = Recorder()
    dispatcher = Dispatcher(handler, concurrency=4, metrics=FunctionsMetrics())
    dispatcher.start()
    handler.gate.clear()
    dispatcher.submit(stack("a"))
    await asyncio.sleep(0.02)  # "a" is now running and held at the gate
    for _ in range(10):
        dispatcher.submit(stack("a"))
    dispatcher.submit(stack("b"))
    handler.gate.set()
    await asyncio.wait_for(dispatcher.wait_idle(), 5)
    runs = [name for name, _ in handler.seen]
    assert runs.count("StackRecordChanged:stack:a") == 2 and runs.count("StackRecordChanged:stack:b") == 1
    assert handler.overlaps == 0
    dispatcher.stop()
    await dispatcher.drain(1)


async def test_events_of_one_key_but_different_types_are_all_handled() -> None:
    """A pending record change does not swallow the reconciler's drift event for the same stack."""
    handler = Recorder()
    dispatcher = Dispatcher(handler, concurrency=1, metrics=FunctionsMetrics())
    handler.gate.clear()
    dispatcher.start()
    dispatcher.submit(TenantRecordChanged(tenant_id="t", source="realtime"))  # occupies the one worker
    dispatcher.submit(stack("a"))
    dispatcher.submit(StackDriftFound(stack_id="a", kind="stopped", source="reconciler"))
    handler.gate.set()
    await asyncio.wait_for(dispatcher.wait_idle(), 5)
    names = [name for name, _ in handler.seen]
    assert "StackRecordChanged:stack:a" in names and "StackDriftFound:stack:a" in names
    dispatcher.stop()
    await dispatcher.drain(1)


async def test_a_retry_runs_again_with_the_next_attempt_number() -> None:
    """Retry(delay) schedules the same event; the handler sees attempts 1, 2, 3."""
    handler = Recorder()
    handler.retries["stack:a"] = 2
    dispatcher = Dispatcher(handler, concurrency=2, metrics=FunctionsMetrics())
    dispatcher.start()
    dispatcher.submit(stack("a"))
    await asyncio.wait_for(dispatcher.wait_idle(), 5)
    assert [attempt for _, attempt in handler.seen] == [1, 2, 3]
    dispatcher.stop()
    await dispatcher.drain(1)


async def test_drain_lets_running_work_finish_then_cancels_what_overstays() -> None:
    """After stop, nothing new is taken; a handler that finishes within the grace period completes, one
    that does not is cancelled."""
    finished: list[str] = []

    async def handler(event: AnyEvent, attempt: int) -> None:
        await asyncio.sleep(0.1 if event.key == "stack:quick" else 30)
        finished.append(event.key)

    dispatcher = Dispatcher(handler, concurrency=2, metrics=FunctionsMetrics())
    dispatcher.start()
    dispatcher.submit(stack("quick"))
    dispatcher.submit(stack("slow"))
    await asyncio.sleep(0.02)
    dispatcher.stop()
    dispatcher.submit(stack("late"))
    await asyncio.wait_for(dispatcher.drain(1.0), 5)
    assert finished == ["stack:quick"]
