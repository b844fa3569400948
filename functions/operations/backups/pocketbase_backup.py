"""PocketBase's own data (tenants, stacks, secrets, the audit trail) into the same restic repository.

PocketBase makes a consistent zip of its SQLite databases through its backups API (superuser only):
``POST /api/backups`` creates it, the download needs a short-lived file token, and restic stores the
zip from the download stream (tags ``kind=pocketbase``), so nothing is written where ``cfa`` runs. The
zip is deleted from PocketBase afterwards, also on failure. Audited as ``backup.pocketbase_completed``
(the missed-backup check reads it) or ``backup.pocketbase_failed``. Restoring it is a deliberate act
of an operator (runbooks/backup-failed.md): PocketBase's restore replaces every record.
"""

from __future__ import annotations

import contextlib
from urllib.parse import quote

import httpx

from functions.context import Context
from functions.operations.backups import policy
from functions.operations.backups.models import BackupResult, Snapshot
from functions.operations.backups.restic import Restic, Write
from shared import redaction
from shared.errors import BusyError, CfaError, NotFoundError, UnavailableError
from shared.logging import get_logger

log = get_logger()


async def backup_pocketbase(ctx: Context) -> BackupResult:
    """One snapshot of PocketBase's data. Retryable errors: PocketBase busy with another backup, or
    unreachable; ConfigurationError when backups are not configured."""
    restic = Restic(ctx.settings)
    if ctx.dry_run:
        return BackupResult(target="pocketbase", dry_run=True)
    when = ctx.wall().replace(microsecond=0)
    key = f"cfa_{when:%Y%m%d%H%M%S}.zip"
    try:
        await _create(ctx, key)
        try:
            token = await _file_token(ctx)
            url = f"{ctx.pb.base_url}/api/backups/{quote(key)}"

            def feed(write: Write) -> None:
                with httpx.stream("GET", url, params={"token": token}, timeout=60.0) as response:
                    if response.status_code != 200:
                        raise UnavailableError(
                            f"PocketBase refused the backup download ({response.status_code})",
                            advice="re-run; check PocketBase's log if it persists",
                        )
                    for chunk in response.iter_bytes(1 << 20):
                        write(chunk)

            created = await restic.ensure()
            summary = await restic.backup(
                feed, filename=policy.POCKETBASE_ARCHIVE, tags=policy.POCKETBASE_SELECTOR, when=when
            )
        finally:
            with contextlib.suppress(CfaError):
                await ctx.pb.request("DELETE", f"/api/backups/{quote(key)}")
    except CfaError as err:
        await ctx.store.audit(
            "backup.pocketbase_failed",
            outcome="failed",
            details={"error": err.kind, "reason": err.message[:500], "retryable": err.retryable},
        )
        await ctx.store.flush()
        raise
    except httpx.HTTPError as err:
        failure = UnavailableError(
            f"downloading PocketBase's backup failed ({type(err).__name__})",
            advice="check that PocketBase is reachable, then re-run",
        )
        await ctx.store.audit(
            "backup.pocketbase_failed",
            outcome="failed",
            details={"error": failure.kind, "reason": failure.message},
        )
        await ctx.store.flush()
        raise failure from err
    result = BackupResult(
        target="pocketbase",
        snapshot=summary.snapshot_id,
        time=when.isoformat().replace("+00:00", "Z"),
        bytes_processed=summary.bytes_processed,
        bytes_added=summary.bytes_added,
        seconds=round(summary.seconds, 3),
        repository_created=created,
    )
    await ctx.store.audit(
        "backup.pocketbase_completed",
        details=result.model_dump(include={"snapshot", "bytes_processed", "bytes_added", "seconds"}),
    )
    await ctx.store.flush()
    log.info("backup.pocketbase_completed", snapshot=summary.snapshot_id, bytes_added=summary.bytes_added)
    return result


async def _create(ctx: Context, key: str) -> None:
    response = await ctx.pb.request("POST", "/api/backups", json={"name": key})
    if response.status_code == 204:
        return
    text = response.text[:300]
    if response.status_code == 400 and "Try again later" in text:
        raise BusyError(
            "PocketBase is already making or restoring a backup", advice="re-run in a minute (it is safe)"
        )
    raise UnavailableError(
        f"PocketBase refused to make a backup ({response.status_code}: {text})",
        advice="check PocketBase's log and free disk space, then re-run",
    )


async def _file_token(ctx: Context) -> str:
    response = await ctx.pb.request("POST", "/api/files/token")
    if response.status_code != 200:
        raise UnavailableError(f"PocketBase refused a file token ({response.status_code})")
    token = str(response.json()["token"])
    redaction.register(token)  # it lets anyone download the backup for a few minutes
    return token


async def list_pocketbase_backups(ctx: Context) -> list[Snapshot]:
    """PocketBase's snapshots, newest first (empty while the repository does not exist)."""
    restic = Restic(ctx.settings)
    try:
        found = await restic.snapshots(policy.POCKETBASE_SELECTOR)
    except NotFoundError:
        return []
    return [Snapshot.of(s) for s in reversed(found)]
