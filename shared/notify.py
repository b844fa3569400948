"""Building an Apprise instance from ``CFA_APPRISE_URLS`` / ``CFA_APPRISE_CONFIG``, for both senders:
the monitor's pages (``monitor.notifier``) and the event functions' alerts (``functions.alerts``).

URLs from ``CFA_APPRISE_URLS`` receive every tag (``critical``, ``warning``, ``resolved``); routing by
tag is done in an Apprise config file, where each URL lists the tags it wants. Each URL is registered
with :mod:`shared.redaction` so that it never reaches a log or an error.
"""

from __future__ import annotations

import logging
import re
import tempfile
import warnings
from pathlib import Path
from typing import Any

from shared import redaction
from shared.errors import ConfigurationError

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


def split_urls(value: str) -> list[str]:
    """``CFA_APPRISE_URLS`` is space or comma separated."""
    return [part for part in re.split(r"[\s,]+", value.strip()) if part]


def build_apprise(urls: list[str], config_path: str | None) -> Any:
    """An ``apprise.Apprise`` with ``urls`` (every tag) and the config file at ``config_path``.
    Raises ConfigurationError naming the bad URL by its position, never by its text."""
    # Apprise loads its plugins on first use; its email plugin imports the deprecated ``imghdr``
    # module, a warning that is not ours to act on.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import apprise

        _ensure_plugins(urls, all_plugins=config_path is not None)
        # Apprise logs through stdlib logging with its own wording; our JSON logs report outcomes.
        apprise_logger = logging.getLogger("apprise")
        apprise_logger.addHandler(logging.NullHandler())
        apprise_logger.propagate = False
        redaction.register(*urls)
        instance = apprise.Apprise()
        for position, url in enumerate(urls, start=1):
            if not instance.add(url, tag=list(TAGS)):
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
            instance.add(config)
    return instance
