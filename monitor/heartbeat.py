"""The dead man's switch: a GET to an external URL (healthchecks.io style) while the monitor is healthy.

When the monitor dies, hangs or loses Docker, the pings stop and the external service pages. The
URL is a secret (it is the check's identity): it is registered for redaction and never logged.
"""

from __future__ import annotations

import urllib.error
import urllib.request

from pydantic import SecretStr


def ping(url: SecretStr, timeout: float = 10.0) -> bool:
    """One ping; True on a 2xx answer. Never raises for network failures."""
    request = urllib.request.Request(url.get_secret_value(), headers={"User-Agent": "cfa-monitor"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - operator-set URL
            return 200 <= int(response.status) < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False
