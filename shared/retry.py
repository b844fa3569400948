"""Retry policy: capped exponential backoff with jitter, and ``Retry-After`` parsing."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    base_seconds: float = 0.5
    cap_seconds: float = 20.0
    max_retry_after_seconds: float = 120.0

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """Delay before attempt ``attempt + 1``: half fixed, half random, so clients spread out."""
        ceiling = min(self.cap_seconds, self.base_seconds * 2.0 ** (attempt - 1))
        jitter = random.uniform(0, ceiling / 2) if rng is None else rng.uniform(0, ceiling / 2)
        return ceiling / 2 + jitter


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
