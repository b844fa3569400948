"""A fixed-window request limiter shaped like Laravel's ``ThrottleRequests`` (``Limit::perMinute``)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    """The outcome of one :meth:`FixedWindowLimiter.hit`: allowed or not, and the header values."""

    allowed: bool
    limit: int
    remaining: int
    retry_after: int

    def headers(self) -> dict[str, str]:
        """``X-RateLimit-*`` on every throttled response, plus ``Retry-After`` on a 429."""
        headers = {"X-RateLimit-Limit": str(self.limit), "X-RateLimit-Remaining": str(self.remaining)}
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after)
        return headers


class FixedWindowLimiter:
    """``limit`` hits per ``window`` seconds; the window opens at the first hit, as Laravel's does.

    A refused hit is not counted. ``retry_after`` is the whole seconds until the window closes
    (at least 1), which is what Laravel sends as ``Retry-After``.
    """

    def __init__(self, limit: int, clock: Callable[[], float], window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._opened_at: float | None = None
        self._count = 0

    def hit(self) -> Verdict:
        now = self._clock()
        if self._opened_at is None or now >= self._opened_at + self.window:
            self._opened_at, self._count = now, 0
        retry_after = max(1, math.ceil(self._opened_at + self.window - now))
        if self._count >= self.limit:
            return Verdict(False, self.limit, 0, retry_after)
        self._count += 1
        return Verdict(True, self.limit, self.limit - self._count, retry_after)
