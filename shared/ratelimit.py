"""A client-side sliding-window rate limiter for asyncio.

It guarantees that no window of ``period`` seconds ever contains more than ``limit`` acquisitions,
which also keeps a server's fixed-window limit (Laravel's throttle in Coolify) from ever tripping.
Waiters are served in arrival order.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable


class SlidingWindowLimiter:
    def __init__(
        self,
        limit: int,
        period: float = 60.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.period = period
        self._clock = clock
        self._sleep = sleep
        self._stamps: deque[float] = deque()
        self._lock = asyncio.Lock()
        self.waited_seconds = 0.0

    async def acquire(self) -> None:
        """Wait until one more request fits in the window, then count it."""
        async with self._lock:
            while True:
                now = self._clock()
                while self._stamps and now - self._stamps[0] >= self.period:
                    self._stamps.popleft()
                if len(self._stamps) < self.limit:
                    self._stamps.append(now)
                    return
                delay = self._stamps[0] + self.period - now
                self.waited_seconds += delay
                await self._sleep(delay)
