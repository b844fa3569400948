"""The fixed-window limiter behind the fake's 429s."""

from __future__ import annotations

from tests.fakes.clock import FakeClock
from tests.fakes.ratelimit import FixedWindowLimiter


def test_counts_down_then_refuses() -> None:
    """``limit`` hits pass with a decreasing remainder; the next one is refused."""
    limiter = FixedWindowLimiter(2, FakeClock())
    assert [limiter.hit().remaining for _ in range(2)] == [1, 0]
    assert limiter.hit().allowed is False


def test_retry_after_counts_to_the_window_end() -> None:
    """Retry-After is the whole seconds left in the window, at least 1."""
    clock = FakeClock()
    limiter = FixedWindowLimiter(1, clock)
    limiter.hit()
    clock.advance(59.5)
    refused = limiter.hit()
    assert refused.retry_after == 1
    assert refused.headers()["Retry-After"] == "1"


def test_refused_hits_do_not_extend_the_window() -> None:
    """The window opens at the first hit; refusals inside it do not push it back."""
    clock = FakeClock()
    limiter = FixedWindowLimiter(1, clock)
    limiter.hit()
    clock.advance(30)
    limiter.hit()
    clock.advance(30)
    assert limiter.hit().allowed is True
