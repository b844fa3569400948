"""Failure injection for the Coolify fake: make matching requests fail before or after taking effect."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

FaultMode = Literal["error_500_before", "error_500_after", "timeout_before", "timeout_after", "rate_limited"]
FAULT_MODES: tuple[FaultMode, ...] = (
    "error_500_before",
    "error_500_after",
    "timeout_before",
    "timeout_after",
    "rate_limited",
)
# Modes that answer without touching state; the others apply the request first.
BEFORE_MODES = frozenset({"error_500_before", "timeout_before", "rate_limited"})


@dataclass
class Fault:
    """One armed fault: ``method`` (or ``"*"``) and ``path_regex`` (``re.search`` on the full URL path).

    It fires on the next ``times`` matching requests (``None``: on every one); ``fired`` counts them.
    """

    method: str
    path_regex: str
    mode: FaultMode
    times: int | None = 1
    retry_after: int = 1
    fired: int = 0
    _pattern: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.mode not in FAULT_MODES:
            raise ValueError(f"unknown fault mode {self.mode!r}; use one of {FAULT_MODES}")
        self.method = self.method.upper()
        self._pattern = re.compile(self.path_regex)

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.fired >= self.times

    def matches(self, method: str, path: str) -> bool:
        return (
            not self.exhausted
            and self.method in ("*", method.upper())
            and self._pattern.search(path) is not None
        )
