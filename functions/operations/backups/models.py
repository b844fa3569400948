"""What the backup operations return (the CLI prints them; the admin page reads them)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from functions.operations.backups.restic import ResticSnapshot
from functions.operations.lifecycle import StackResult


class BackupResult(BaseModel):
    """One backup run: of a stack's volumes (``target`` ``tenant/stack``) or of PocketBase."""

    target: str
    tenant: str = ""
    stack: str = ""
    snapshot: str = ""  # restic's short id
    time: str = ""  # the snapshot's time, ISO 8601 UTC
    volumes: list[str] = Field(default_factory=list)
    bytes_processed: int = 0
    bytes_added: int = 0  # what the repository grew by (after deduplication and compression)
    seconds: float = 0.0
    repository_created: bool = False
    dry_run: bool = False


class Snapshot(BaseModel):
    id: str  # short id, what `cfa backup restore --snapshot` takes (any unique prefix of `full_id`)
    full_id: str
    time: str
    kind: str  # "stack" or "pocketbase"
    tenant: str = ""
    stack: str = ""
    template: str = ""
    service_uuid: str = ""  # the Coolify service it was taken from
    volumes: list[str] = Field(default_factory=list)

    @classmethod
    def of(cls, snapshot: ResticSnapshot) -> Snapshot:
        return cls(
            id=snapshot.short_id,
            full_id=snapshot.id,
            time=snapshot.time.isoformat().replace("+00:00", "Z"),
            kind=snapshot.tag("kind"),
            tenant=snapshot.tag("tenant"),
            stack=snapshot.tag("stack"),
            template=snapshot.tag("template"),
            service_uuid=snapshot.tag("service"),
            volumes=snapshot.tag_values("volume"),
        )


class RestoreResult(StackResult):
    """The stack after the restore, and what was done to it."""

    snapshot: str = ""
    volumes: list[str] = Field(default_factory=list)
    stopped: bool = False  # the restore stopped it (it was running)
    started: bool = False  # and started it again
