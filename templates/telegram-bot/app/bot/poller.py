"""The long-polling loop: fetch updates, confirm them, hand messages to the handler, never crash.

Offsets: each ``getUpdates`` asks for ``last update_id + 1``, which confirms everything before it, so an
update is handled at most once per process. Messages of one chat are handled one at a time, in order;
different chats run concurrently, at most ``max_concurrent_chats`` at once, and at most
``max_pending`` messages wait in memory before polling pauses (back-pressure instead of a growing queue).

Failures: 429 waits exactly ``retry_after``; 409 (another poller or a webhook) re-deletes the webhook
and backs off; anything else backs off exponentially up to a cap. Progress is reported to ``Heartbeat``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from bot.handler import MessageHandler
from bot.health import Heartbeat
from bot.logs import log_event
from bot.telegram import Message, RetryAfter, Sleep, TelegramClient, TelegramError, TelegramRejected

logger = logging.getLogger("bot")

SHUTDOWN_GRACE_SECONDS = 8.0
_CONFIRM_TIMEOUT_SECONDS = 5.0


@dataclass
class Backoff:
    """Exponential delays: ``initial``, doubled per failure, never above ``cap``; ``reset`` on success."""

    initial: float = 1.0
    cap: float = 60.0
    _next: float = field(default=0.0, init=False)

    def next_delay(self) -> float:
        delay = self._next or self.initial
        self._next = min(delay * 2, self.cap)
        return delay

    def reset(self) -> None:
        self._next = 0.0


@dataclass
class _ChatSlot:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


class Poller:
    """Owns the offset, the in-flight message tasks and the stop signal."""

    def __init__(
        self,
        *,
        telegram: TelegramClient,
        handler: MessageHandler,
        heartbeat: Heartbeat,
        sleep: Sleep,
        poll_timeout: int,
        max_concurrent_chats: int,
        max_pending: int = 100,
        backoff: Backoff | None = None,
    ) -> None:
        self._telegram = telegram
        self._handler = handler
        self._heartbeat = heartbeat
        self._sleep = sleep
        self._poll_timeout = poll_timeout
        self._backoff = backoff or Backoff()
        self._offset: int | None = None
        self._webhook_cleared = False
        self._running = asyncio.Semaphore(max_concurrent_chats)
        self._pending = asyncio.Semaphore(max_pending)
        self._chats: dict[int, _ChatSlot] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._stop = asyncio.Event()

    @property
    def offset(self) -> int | None:
        """The next ``offset`` sent to ``getUpdates`` (None before the first update)."""
        return self._offset

    def stop(self) -> None:
        """Ask ``run`` to finish; safe to call from a signal handler."""
        self._stop.set()

    async def run(self, grace_seconds: float = SHUTDOWN_GRACE_SECONDS) -> None:
        """Poll until ``stop()``; then give in-flight replies ``grace_seconds`` and confirm the offset."""
        polling = asyncio.create_task(self.poll_forever())
        try:
            await self._stop.wait()
        finally:
            polling.cancel()
            await asyncio.gather(polling, return_exceptions=True)
        log_event(logger, logging.INFO, "bot.stopping", in_flight=len(self._tasks))
        await self.drain(grace_seconds)
        await self._confirm_offset()

    async def poll_forever(self) -> None:
        """Repeat ``poll_once`` forever; every failure is logged and waited out, none escapes."""
        while True:
            try:
                await self.poll_once()
                self._backoff.reset()
            except RetryAfter as exc:
                log_event(
                    logger,
                    logging.WARNING,
                    "bot.rate_limited",
                    method=exc.method,
                    retry_after=exc.retry_after,
                )
                await self._sleep(exc.retry_after)
            except TelegramRejected as exc:
                if exc.status == 409:
                    self._webhook_cleared = False
                    event = "bot.poll_conflict"
                else:
                    event = "bot.poll_failed"
                delay = self._backoff.next_delay()
                log_event(logger, logging.WARNING, event, status=exc.status, reason=str(exc), retry_in=delay)
                await self._sleep(delay)
            except TelegramError as exc:
                delay = self._backoff.next_delay()
                log_event(
                    logger,
                    logging.WARNING,
                    "bot.poll_failed",
                    status=exc.status,
                    reason=str(exc),
                    retry_in=delay,
                )
                await self._sleep(delay)
            except Exception as exc:
                delay = self._backoff.next_delay()
                log_event(
                    logger, logging.ERROR, "bot.poll_crashed", error_type=type(exc).__name__, retry_in=delay
                )
                await self._sleep(delay)

    async def poll_once(self) -> int:
        """One ``getUpdates`` round trip; start handling what came back; return the number of updates.

        Raises ``TelegramError``. Handling continues in the background; ``drain()`` waits for it.
        """
        if not self._webhook_cleared:
            await self._telegram.delete_webhook()
            self._webhook_cleared = True
            log_event(logger, logging.INFO, "bot.webhook_deleted")
        updates = await self._telegram.get_updates(self._offset, self._poll_timeout)
        self._heartbeat.beat()
        for update in updates:
            self._offset = max(self._offset or 0, update.update_id + 1)
            message = update.message
            log_event(
                logger,
                logging.INFO,
                "bot.update_received",
                update_id=update.update_id,
                chat_id=message.chat_id if message else None,
                kind=_kind(message),
            )
            if message is not None:
                await self._start(message)
        return len(updates)

    async def drain(self, grace_seconds: float | None = None) -> None:
        """Wait for in-flight messages; after ``grace_seconds`` cancel the rest."""
        if not self._tasks:
            return
        _done, late = await asyncio.wait(set(self._tasks), timeout=grace_seconds)
        for task in late:
            task.cancel()
        if late:
            log_event(logger, logging.WARNING, "bot.replies_abandoned", count=len(late))
            await asyncio.gather(*late, return_exceptions=True)

    async def _start(self, message: Message) -> None:
        await self._pending.acquire()
        task = asyncio.create_task(self._process(message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _process(self, message: Message) -> None:
        try:
            async with self._chat_turn(message.chat_id), self._running:
                await self._handler.handle(message)
        finally:
            self._pending.release()

    @contextlib.asynccontextmanager
    async def _chat_turn(self, chat_id: int) -> AsyncIterator[None]:
        # asyncio.Lock wakes waiters first-in first-out, so a chat's messages keep their order.
        slot = self._chats.setdefault(chat_id, _ChatSlot())
        slot.users += 1
        try:
            async with slot.lock:
                yield
        finally:
            slot.users -= 1
            if slot.users == 0:
                del self._chats[chat_id]

    async def _confirm_offset(self) -> None:
        # Without this call Telegram would redeliver the last batch after a restart.
        if self._offset is None:
            return
        try:
            await asyncio.wait_for(
                self._telegram.get_updates(self._offset, wait_seconds=0, limit=1), _CONFIRM_TIMEOUT_SECONDS
            )
        except (TelegramError, TimeoutError) as exc:
            log_event(logger, logging.WARNING, "bot.confirm_failed", reason=str(exc))


def _kind(message: Message | None) -> str:
    if message is None:
        return "other"
    if message.text is None:
        return "non_text"
    return "command" if message.text.startswith("/") else "text"
