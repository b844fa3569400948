"""From notices to the outbox: apply the policy (silences, suspended/deleted stacks), render, group.

Everything for one notice happens in one transaction: the incident's "paged" mark and the outbox row
are written together, so a crash can neither lose a page nor send one twice after a restart.
"""

from __future__ import annotations

from monitor.findings import SILENT_RESOLVE_KINDS
from monitor.grouping import Grouper
from monitor.incidents import IncidentStore, Notice
from monitor.messages import render_item
from monitor.metrics import MonitorMetrics
from monitor.policy import Policy
from shared.logging import get_logger

log = get_logger()


class Dispatcher:
    def __init__(
        self,
        store: IncidentStore,
        policy: Policy,
        grouper: Grouper,
        metrics: MonitorMetrics,
        *,
        runbook_base: str,
    ) -> None:
        self.store = store
        self.policy = policy
        self.grouper = grouper
        self.metrics = metrics
        self.runbook_base = runbook_base

    def submit(self, notices: list[Notice], now: float) -> int:
        """Queue what may be sent; returns how many messages (or summary items) were queued."""
        queued = 0
        for notice in notices:
            with self.store.db.transaction():
                queued += self._one(notice, now)
        return queued

    def _one(self, notice: Notice, now: float) -> int:
        incident = notice.incident
        if notice.type == "resolved":
            if incident.notifications == 0 or incident.kind in SILENT_RESOLVE_KINDS:
                return 0
            self.grouper.offer(render_item(notice, runbook_base=self.runbook_base, now=now), now)
            return 1
        reason = self.policy.suppression(incident, now)
        if reason is not None:
            if incident.suppressed != reason:
                self.store.save(incident.model_copy(update={"suppressed": reason}))
                log.info(
                    "monitor.notification_suppressed",
                    incident=incident.id,
                    kind=incident.kind.value,
                    tenant=incident.tenant,
                    stack=incident.stack,
                    reason=reason,
                )
                self.metrics.notifications.labels(result="suppressed").inc()
            return 0
        item = render_item(notice, runbook_base=self.runbook_base, now=now)
        immediate = self.grouper.offer(item, now)
        self.store.save(
            incident.model_copy(
                update={"notified_at": now, "notifications": incident.notifications + 1, "suppressed": None}
            )
        )
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
