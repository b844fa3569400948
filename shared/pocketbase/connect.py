"""The PocketBase every command talks to: the configured one (CFA_POCKETBASE_URL and superuser
credentials), or the embedded one under CFA_DATA_DIR, started on demand."""

from __future__ import annotations

from pathlib import Path

import httpx

from shared import redaction
from shared.errors import ConfigurationError
from shared.logging import get_logger
from shared.pocketbase.client import PocketBase
from shared.pocketbase.embedded import ensure_embedded
from shared.settings import Settings

log = get_logger()


def pocketbase_from_settings(
    settings: Settings, transport: httpx.AsyncBaseTransport | None = None
) -> PocketBase:
    """The configured PocketBase, or the embedded one under CFA_DATA_DIR (started on demand)."""
    if settings.pocketbase_url is None:
        older = Path(".cfa") / "pocketbase"
        if older.is_dir() and older.resolve() != (settings.data_dir / "pocketbase").resolve():
            log.warning(
                "settings.data_dir_elsewhere",
                found=str(older.resolve()),
                using=str(settings.data_dir),
                advice="this folder has an embedded PocketBase (./.cfa) that is not used; "
                "set CFA_DATA_DIR=.cfa to use it",
            )
        server = ensure_embedded(settings.data_dir)
        return PocketBase(server.url, server.email, server.password, transport=transport)
    if not settings.pocketbase_email or settings.pocketbase_password is None:
        raise ConfigurationError(
            "CFA_POCKETBASE_URL is set but the superuser credentials are not",
            advice="set CFA_POCKETBASE_EMAIL and CFA_POCKETBASE_PASSWORD",
        )
    redaction.register(settings.pocketbase_password)
    return PocketBase(
        str(settings.pocketbase_url),
        settings.pocketbase_email,
        settings.pocketbase_password,
        transport=transport,
    )
