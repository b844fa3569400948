"""Burst grouping: the first message of a burst goes out at once; what follows within the window is
held and folded into one summary when the window ends. A summary opens the next window, so a long
storm yields one summary per window; a quiet window closes the burst.
"""

from __future__ import annotations

from monitor.messages import NoticeItem, render
from monitor.outbox import Outbox
from shared.logging import get_logger

log = get_logger()


class Grouper:
    def __init__(self, outbox: Outbox, *, window: float, host: str, runbook_base: str) -> None:
        self.outbox = outbox
        self.window = window
        self.host = host
        self.runbook_base = runbook_base
        self._window_ends: float | None = None

    def offer(self, item: NoticeItem, now: float) -> bool:
        """Queue ``item``; True when it goes out at once, False when it is held for the summary."""
        if self._window_ends is not None and now >= self._window_ends:
            self.flush(now)
        if self._window_ends is None:
            message = render([item], host=self.host, window=self.window, runbook_base=self.runbook_base)
            self.outbox.enqueue(message, now)
            if self.window > 0:
                self._window_ends = now + self.window
            return True
        self.outbox.hold(item, now)
        return False

    def flush(self, now: float) -> None:
        """End the window if it is over: fold what was held into one message."""
        if self._window_ends is not None and now < self._window_ends:
            return
        held = self.outbox.held()
        if not held:
            self._window_ends = None
            return
        items = [item for _, item in held]
        message = render(items, host=self.host, window=self.window, runbook_base=self.runbook_base)
        self.outbox.drop([row_id for row_id, _ in held])
        self.outbox.enqueue(message, now)
        log.info("monitor.burst_summarised", items=len(items), title=message.title)
        self._window_ends = now + self.window
