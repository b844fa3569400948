"""``cfa pb migrate``: the provisioning collections plus the monitor's ``incidents`` (all declared in
``shared.pocketbase.schema``)."""

from __future__ import annotations

from shared.pocketbase.client import PocketBase
from shared.pocketbase.schema import MigrationReport, incidents_collection, migrate


async def migrate_all(pb: PocketBase) -> MigrationReport:
    """Idempotent and additive; see ``shared.pocketbase.schema.migrate``."""
    return await migrate(pb, [incidents_collection()])
