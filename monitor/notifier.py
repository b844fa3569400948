"""The monitor's delivery through Apprise, behind a small :class:`Notifier` protocol (tests use a real
Apprise against a local HTTP sink; the rest of the monitor never imports apprise).

The Apprise instance is built by :func:`shared.notify.build_apprise` (URLs, tags, config file). Apprise
never raises on delivery failure; its result is mapped to :class:`DeliveryOutcome`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from monitor.messages import Message
from monitor.values import Value
from shared import redaction
from shared.notify import build_apprise, split_urls
from shared.settings import Settings


class DeliveryStatus(StrEnum):
    DELIVERED = "delivered"
    FAILED = "failed"
    UNROUTED = "unrouted"  # no configured service takes this tag: nothing to retry


class DeliveryOutcome(Value):
    status: DeliveryStatus
    detail: str = ""


class Notifier(Protocol):
    def send(self, message: Message) -> DeliveryOutcome:
        """Deliver one message (blocking; called off the event loop)."""


class AppriseNotifier:
    def __init__(self, urls: list[str], config_path: str | None = None, *, timeout: float = 30.0) -> None:
        self._apprise = build_apprise(urls, config_path)
        self._timeout = timeout
        self.services = len(self._apprise)

    @classmethod
    def from_settings(cls, settings: Settings) -> AppriseNotifier:
        urls = split_urls(settings.apprise_urls.get_secret_value()) if settings.apprise_urls else []
        config = str(settings.apprise_config) if settings.apprise_config else None
        return cls(urls, config, timeout=settings.monitor_notify_timeout_seconds)

    def send(self, message: Message) -> DeliveryOutcome:
        import apprise

        result = self._apprise.notify(
            body=message.body,
            title=message.title,
            notify_type=message.notify_type,
            body_format=apprise.NotifyFormat.TEXT,
            tag=message.tag,
            timeout=self._timeout,
        )
        status = result.status
        if status == apprise.AppriseResultStatus.SUCCESS:
            return DeliveryOutcome(status=DeliveryStatus.DELIVERED)
        if status == apprise.AppriseResultStatus.NOMATCH:
            return DeliveryOutcome(
                status=DeliveryStatus.UNROUTED, detail=f"no service is tagged {message.tag!r}"
            )
        failed = [f"{r.name}: {r.status.name}" for r in result if not r]
        return DeliveryOutcome(
            status=DeliveryStatus.FAILED, detail=redaction.scrub(f"{status.name}: {'; '.join(failed)}")
        )


class LogOnlyNotifier:
    """Used when no Apprise URL is configured: every message is only logged."""

    services = 0

    def send(self, message: Message) -> DeliveryOutcome:
        return DeliveryOutcome(status=DeliveryStatus.UNROUTED, detail="no Apprise URL configured")
