"""The sliding-window limiter and the retry policy."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from shared.ratelimit import SlidingWindowLimiter
from shared.retry import RetryPolicy, parse_retry_after


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.mark.anyio
async def test_limiter_never_lets_a_window_exceed_the_limit() -> None:
    """With a limit of 3 per 60 s, the 4th and 5th acquisitions wait until the oldest stamps age out."""
    fake = FakeTime()
    limiter = SlidingWindowLimiter(3, 60.0, clock=fake.clock, sleep=fake.sleep)
    stamps = []
    for step in range(5):
        fake.now += 1.0 if step else 0.0
        await limiter.acquire()
        stamps.append(fake.now)
    assert stamps == [0.0, 1.0, 2.0, 60.0, 61.0]
    assert all(later - earlier >= 60.0 for earlier, later in zip(stamps, stamps[3:], strict=False))


def test_backoff_grows_and_is_capped() -> None:
    """Each delay lies in [ceiling/2, ceiling] with ceiling = min(cap, base·2^(n-1))."""
    policy = RetryPolicy(base_seconds=1.0, cap_seconds=8.0)
    rng = random.Random(1)
    delays = [policy.backoff(n, rng) for n in range(1, 7)]
    ceilings = [1, 2, 4, 8, 8, 8]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))


def test_retry_after_accepts_seconds_and_dates() -> None:
    """Retry-After may be delta-seconds or an HTTP date; garbage is ignored."""
    now = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after("Wed, 25 Nov 2026 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
