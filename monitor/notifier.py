"""Delivery through Apprise, behind a small :class:`Notifier` protocol (tests use a real Apprise
against a local HTTP sink; other code never imports apprise).

URLs from ``CFA_APPRISE_URLS`` receive every tag (``critical``, ``warning``, ``resolved``); routing by
tag is done in an Apprise config file (``CFA_APPRISE_CONFIG``), where each URL lists the tags it
wants. Apprise never raises on delivery failure; its result is mapped to :class:`DeliveryOutcome`.
"""

from __future__ import annotations

import logging
import re
import tempfile
import warnings
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from monitor.messages import Message
from monitor.values import Value
from shared import redaction
from shared.errors import ConfigurationError
from shared.settings import Settings

TAGS = ("critical", "warning", "resolved")

# URL scheme → Apprise plugin module, for the services on-call is likely to use. Apprise imports all of
# its ~190 plugins on first use (about 8 MB of RSS); with URLs whose schemes are all listed here only
# those plugins are loaded. Any other scheme, or a config file, loads them all as usual.
PLUGIN_MODULES: dict[str, str] = {
    "json": "custom_json",
    "jsons": "custom_json",
    "form": "custom_form",
    "forms": "custom_form",
    "xml": "custom_xml",
    "xmls": "custom_xml",
    "tgram": "telegram",
    "mailto": "email",
    "mailtos": "email",
    "ntfy": "ntfy",
    "ntfys": "ntfy",
    "slack": "slack",
    "discord": "discord",
    "gotify": "gotify",
    "gotifys": "gotify",
    "pover": "pushover",
    "pagerduty": "pagerduty",
    "opsgenie": "opsgenie",
    "signal": "signal_api",
    "signals": "signal_api",
    "apprise": "apprise_api",
    "apprises": "apprise_api",
}


def _ensure_plugins(urls: list[str], *, all_plugins: bool) -> None:
    """Make the plugins for these URLs available, loading only those when every scheme is known."""
    from apprise.manager_plugins import NotificationManager

    manager: Any = NotificationManager()  # type: ignore[no-untyped-call]  # a process-wide singleton
    if all_plugins:
        manager.load_modules()  # a no-op once done
        return
    schemes = {url.split("://", 1)[0].lower() for url in urls}
    if not schemes or (manager and all(scheme in manager for scheme in schemes)):
        return
    if not manager and schemes <= PLUGIN_MODULES.keys():
        with tempfile.TemporaryDirectory(prefix="cfa-apprise-") as listing:
            # load_modules() lists a directory for module names and imports them from the package.
            for module in {PLUGIN_MODULES[scheme] for scheme in schemes}:
                (Path(listing) / f"{module}.py").touch()
            manager.load_modules(path=listing, name="apprise.plugins")
        return
    manager.load_modules()  # all of them (a no-op once done)


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


def split_urls(value: str) -> list[str]:
    """``CFA_APPRISE_URLS`` is space or comma separated."""
    return [part for part in re.split(r"[\s,]+", value.strip()) if part]


class AppriseNotifier:
    def __init__(self, urls: list[str], config_path: str | None = None, *, timeout: float = 30.0) -> None:
        # Apprise loads all of its plugins on first use; its email plugin imports the deprecated
        # ``imghdr`` module, a warning that is not ours to act on.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            self._setup(urls, config_path, timeout)

    def _setup(self, urls: list[str], config_path: str | None, timeout: float) -> None:
        import apprise

        _ensure_plugins(urls, all_plugins=config_path is not None)
        # Apprise logs through stdlib logging with its own wording; our JSON log reports outcomes.
        apprise_logger = logging.getLogger("apprise")
        apprise_logger.addHandler(logging.NullHandler())
        apprise_logger.propagate = False
        redaction.register(*urls)
        self._apprise = apprise.Apprise()
        self._timeout = timeout
        for position, url in enumerate(urls, start=1):
            if not self._apprise.add(url, tag=list(TAGS)):
                raise ConfigurationError(
                    f"Apprise URL number {position} in CFA_APPRISE_URLS is not valid",
                    advice="check its scheme and format (https://github.com/caronc/apprise/wiki)",
                )
        if config_path is not None:
            config = apprise.AppriseConfig()
            if not config.add(config_path):
                raise ConfigurationError(
                    f"the Apprise config {config_path} cannot be read", advice="check CFA_APPRISE_CONFIG"
                )
            self._apprise.add(config)
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
