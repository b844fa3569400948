"""Alerts of the event functions: one Apprise message per failure worth a person's attention, each with
a runbook link (``<CFA_RUNBOOK_BASE_URL>runbooks/<runbook>.md``).

Delivery runs off the event loop with a timeout and is retried with backoff for a few minutes; an alert
that still cannot be delivered is logged (``alert.undelivered``); the audit trail holds the facts either
way. With no Apprise URL configured, alerts are only logged. Nothing here raises into a handler.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Literal

from shared import redaction
from shared.logging import get_logger
from shared.notify import build_apprise, split_urls
from shared.settings import Settings

log = get_logger()

Severity = Literal["critical", "warning", "resolved"]
# Every runbook an alert of the functions can link (tests/docs check that each file exists).
RUNBOOKS = frozenset(
    {
        "provisioning-failed",
        "capacity-exceeded",
        "coolify-unreachable",
        "coolify-server-unreachable",
        "coolify-disk-usage",
        "coolify-task-failed",
        "pocketbase-unreachable",
        "reconcile-orphans",
        "platform-misconfigured",
        "backup-failed",
    }
)


@dataclass(frozen=True)
class Alert:
    severity: Severity
    title: str
    body: str
    runbook: str

    def __post_init__(self) -> None:
        if self.runbook not in RUNBOOKS:
            raise ValueError(
                f"no runbook {self.runbook!r} (declare it in RUNBOOKS and write runbooks/{self.runbook}.md)"
            )


class Alerter:
    """Sends :class:`Alert` s through Apprise (``CFA_APPRISE_URLS`` / ``CFA_APPRISE_CONFIG``)."""

    def __init__(self, settings: Settings, *, timeout: float = 30.0, retry_for: float = 300.0) -> None:
        self.runbook_base = settings.runbook_base_url.rstrip("/") + "/"
        self.timeout = timeout
        self.retry_for = retry_for
        urls = split_urls(settings.apprise_urls.get_secret_value()) if settings.apprise_urls else []
        self._apprise: Any = None
        self.sent: list[Alert] = []  # what was handed to Apprise and accepted (tests, /metrics)
        self._tasks: set[asyncio.Task[None]] = set()
        if urls or settings.apprise_config:
            self._apprise = build_apprise(
                urls, str(settings.apprise_config) if settings.apprise_config else None
            )

    def link(self, runbook: str) -> str:
        return f"{self.runbook_base}runbooks/{runbook}.md"

    def send(self, alert: Alert) -> None:
        """Queue ``alert`` for delivery (returns at once)."""
        log.warning("alert.raised", severity=alert.severity, title=alert.title, runbook=alert.runbook)
        if self._apprise is None:
            return
        task = asyncio.create_task(self._deliver(alert))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, alert: Alert) -> None:
        body = redaction.scrub(f"{alert.body}\n\nRunbook: {self.link(alert.runbook)}")
        delay, waited = 2.0, 0.0
        while True:
            try:
                ok = await asyncio.wait_for(asyncio.to_thread(self._notify, alert, body), self.timeout + 5)
            except TimeoutError:
                ok = False
            if ok:
                self.sent.append(alert)
                log.info("alert.delivered", title=alert.title)
                return
            if waited >= self.retry_for:
                log.error("alert.undelivered", title=alert.title)
                return
            await asyncio.sleep(delay)
            waited += delay
            delay = min(delay * 2, 60.0)

    def _notify(self, alert: Alert, body: str) -> bool:
        import apprise

        kinds = {"critical": apprise.NotifyType.FAILURE, "warning": apprise.NotifyType.WARNING}
        result = self._apprise.notify(
            title=f"[{alert.severity.upper()}] {alert.title}",
            body=body,
            notify_type=kinds.get(alert.severity, apprise.NotifyType.SUCCESS),
            body_format=apprise.NotifyFormat.TEXT,
            tag=alert.severity,
        )
        # NOMATCH: no configured service takes this severity; nothing to retry.
        return result.status in (apprise.AppriseResultStatus.SUCCESS, apprise.AppriseResultStatus.NOMATCH)

    async def flush(self, within: float = 10.0) -> None:
        """Wait (a while) for queued deliveries, e.g. before the process exits."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=within)
