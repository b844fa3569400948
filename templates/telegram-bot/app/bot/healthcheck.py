"""``python -m bot.healthcheck``: exit 0 if the bot's ``/healthz`` answers 200, else 1.

Meant for the compose healthcheck (``["CMD", "python", "-m", "bot.healthcheck"]``): the image has no
curl, and this reads ``HEALTH_PORT`` the same way the bot does.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

TIMEOUT_SECONDS = 3.0


def check(port: int, timeout: float = TIMEOUT_SECONDS) -> bool:
    """True if ``http://127.0.0.1:<port>/healthz`` answers 200 within ``timeout`` seconds."""
    url = f"http://127.0.0.1:{port}/healthz"
    # No proxies: an HTTP(S)_PROXY in the stack's environment must not capture a loopback check.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def main() -> int:
    try:
        port = int(os.environ.get("HEALTH_PORT", "").strip() or 8081)
    except ValueError:
        return 1
    return 0 if check(port) else 1


if __name__ == "__main__":
    sys.exit(main())
