"""The alerts unit: from incident notices to messages in the outbox, behind two calls.

``submit(notices, now)`` takes what the incident book decided deserves a message and runs it through
policy (silences, stopped stacks) → render (:mod:`monitor.messages`) → group → outbox. ``tick(now)``
ends a grouping window that is over, folding what it held into one summary.

Grouping: the first message of a burst goes out at once; what follows within the window is held and
folded into one summary when the window ends. A summary opens the next window, so a long storm yields
one summary per window; a quiet window closes the burst. The window's end, the held items and the
outbox all live in SQLite, and everything for one notice — the incident's "paged" mark and its outbox
row — is written in one transaction, so a crash can neither lose a page nor send one twice.
"""

from __future__ import annotations

from monitor.incidents import IncidentStore, Notice
from monitor.messages import render, render_item
from monitor.metrics import MonitorMetrics
from monitor.outbox import Outbox
from monitor.policy import Policy
from monitor.store import Database
from shared.logging import get_logger

log = get_logger()

WINDOW_KEY = "alerts.window_ends"


class Alerts:
    def __init__(
        self,
        db: Database,
        policy: Policy,
        metrics: MonitorMetrics,
        *,
        host: str,
        window: float,
        runbook_base: str,
    ) -> None:
        self._db = db
        self._incidents = IncidentStore(db)
        self.outbox = Outbox(db)
        self._policy = policy
        self._metrics = metrics
        self._host = host
        self._window = window
        self._runbook_base = runbook_base

    def submit(self, notices: list[Notice], now: float) -> int:
        """Queue what may be sent; returns how many messages (or summary items) were queued."""
        queued = 0
        for notice in notices:
            with self._db.transaction():
                queued += self._one(notice, now)
        return queued

    def tick(self, now: float) -> bool:
        """End the grouping window if it is over; True when a message is ready to deliver."""
        with self._db.transaction():
            self._flush(now)
        return self.outbox.pending()["ready"] > 0

    def _one(self, notice: Notice, now: float) -> int:
        incident = notice.incident
        if notice.type == "resolved":
            if incident.notifications == 0:
                return 0  # never paged (held back, or suppressed): its end is no news
            self._offer(notice, now)
            return 1
        reason = self._policy.suppression(incident, now)
        if reason is not None:
            if incident.suppressed != reason:
                self._incidents.mark_suppressed(incident, reason)
                log.info(
                    "monitor.notification_suppressed",
                    incident=incident.id,
                    kind=incident.kind.value,
                    tenant=incident.tenant,
                    stack=incident.stack,
                    reason=reason,
                )
                self._metrics.notifications.labels(result="suppressed").inc()
            return 0
        immediate = self._offer(notice, now)
        self._incidents.mark_paged(incident, now)
        log.info(
            "monitor.notification_queued",
            incident=incident.id,
            notice=notice.type,
            kind=incident.kind.value,
            tenant=incident.tenant,
            stack=incident.stack,
            grouped=not immediate,
        )
        return 1

    def _offer(self, notice: Notice, now: float) -> bool:
        """True when the message goes out at once, False when it is held for the window's summary."""
        item = render_item(notice, runbook_base=self._runbook_base, now=now)
        self._flush(now)
        if self._window_ends() is None:
            message = render([item], host=self._host, window=self._window, runbook_base=self._runbook_base)
            self.outbox.enqueue(message, now)
            if self._window > 0:
                self._set_window_ends(now + self._window)
            return True
        self.outbox.hold(item, now)
        return False

    def _flush(self, now: float) -> None:
        ends = self._window_ends()
        if ends is not None and now < ends:
            return
        held = self.outbox.held()
        if not held:
            if ends is not None:
                self._set_window_ends(None)
            return
        items = [item for _, item in held]
        message = render(items, host=self._host, window=self._window, runbook_base=self._runbook_base)
        self.outbox.drop([row_id for row_id, _ in held])
        self.outbox.enqueue(message, now)
        log.info("monitor.burst_summarised", items=len(items), title=message.title)
        self._set_window_ends(now + self._window)

    def _window_ends(self) -> float | None:
        value = self._db.get(WINDOW_KEY)
        return None if value is None or value == "" else float(value)

    def _set_window_ends(self, ends: float | None) -> None:
        self._db.put(WINDOW_KEY, "" if ends is None else repr(ends))
