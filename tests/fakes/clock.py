"""A manual clock for tests: a callable returning monotonic seconds that only moves when told to."""

from __future__ import annotations


class FakeClock:
    """Monotonic seconds that advance only through :meth:`advance`.

    Pass an instance wherever a ``clock: Callable[[], float]`` is expected (the Coolify fake takes one),
    so time-based behaviour (rate-limit windows, start/stop transitions, async deletes) can be stepped
    through without sleeping.
    """

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` (must not be negative: the clock is monotonic)."""
        if seconds < 0:
            raise ValueError("a monotonic clock cannot go backwards")
        self.now += seconds
