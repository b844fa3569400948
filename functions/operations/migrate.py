"""``cfa pb migrate``: the provisioning collections plus those of the other subsystems (the monitor's)."""

from __future__ import annotations

from typing import Any

from shared.pocketbase.client import PocketBase
from shared.pocketbase.schema import MigrationReport, migrate


def extra_collections() -> list[dict[str, Any]]:
    try:
        from monitor.pb_schema import INCIDENTS_COLLECTION
    except ImportError:  # a provisioning-only install has no monitor
        return []
    return [INCIDENTS_COLLECTION]


async def migrate_all(pb: PocketBase) -> MigrationReport:
    """Idempotent and additive; see ``shared.pocketbase.schema.migrate``."""
    return await migrate(pb, extra_collections())
