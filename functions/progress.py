"""What an operation is waiting for, told as it waits: a live line on a terminal, log lines elsewhere.

Provision may wait minutes for Coolify and delete longer; an operator at a terminal sees
``waiting for Coolify: acme/bot starting:unhealthy, 24 s / 180 s`` rewritten in place on stderr. Without
a terminal (CI, the event functions) the same facts go out as ``progress.waiting`` log events, at most
one per ``every`` seconds per subject, so a log is not flooded.
"""

from __future__ import annotations

import sys
import time
from typing import Protocol, TextIO

from functions.locks import LockHolder
from shared.logging import get_logger

log = get_logger()


class Progress(Protocol):
    def waiting_for_coolify(self, what: str, status: str, elapsed: float, deadline: float) -> None: ...

    def waiting_for_lock(self, tenant: str, holder: LockHolder, waited: float) -> None: ...

    def done(self) -> None: ...


class LogProgress:
    """Progress as structlog events (``progress.waiting``), at most one per subject every ``every`` s."""

    def __init__(self, every: float = 10.0) -> None:
        self.every = every
        self._last: dict[str, float] = {}

    def _due(self, key: str) -> bool:
        now = time.monotonic()
        if now - self._last.get(key, -self.every) < self.every:
            return False
        self._last[key] = now
        return True

    def waiting_for_coolify(self, what: str, status: str, elapsed: float, deadline: float) -> None:
        if self._due(what):
            log.info(
                "progress.waiting",
                waiting_for="coolify",
                subject=what,
                coolify_status=status,
                elapsed_seconds=round(elapsed),
                deadline_seconds=round(deadline),
            )

    def waiting_for_lock(self, tenant: str, holder: LockHolder, waited: float) -> None:
        if self._due(f"lock:{tenant}"):
            log.info(
                "progress.waiting",
                waiting_for="lock",
                subject=tenant,
                holder=holder.operation,
                elapsed_seconds=round(waited),
            )

    def done(self) -> None:
        self._last.clear()


class TerminalProgress:
    """One status line on a terminal, rewritten in place and cleared when the wait ends."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self._shown = False

    def _show(self, text: str) -> None:
        self.stream.write("\r\033[2K" + text)
        self.stream.flush()
        self._shown = True

    def waiting_for_coolify(self, what: str, status: str, elapsed: float, deadline: float) -> None:
        self._show(f"waiting for Coolify: {what} {status}, {elapsed:.0f} s / {deadline:.0f} s")

    def waiting_for_lock(self, tenant: str, holder: LockHolder, waited: float) -> None:
        self._show(
            f"waiting for the lock of {tenant}, held by {holder.operation or holder.owner}: {waited:.0f} s"
        )

    def done(self) -> None:
        if self._shown:
            self.stream.write("\r\033[2K")
            self.stream.flush()
            self._shown = False
