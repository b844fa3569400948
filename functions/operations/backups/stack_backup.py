"""Back up a stack's volumes, list its snapshots, apply the retention policy to them.

``run_backup`` is idempotent in effect (a re-run makes one more snapshot, deduplicated to almost
nothing) and takes the tenant's lock, so no restore, suspend or delete of the stack runs meanwhile.
Writes: the stack's ``last_backup_at`` / ``last_backup_snapshot`` (on success) or ``last_backup_error``
(on failure), audit events ``backup.requested`` / ``backup.completed`` (or ``backup.failed``; a refusal
is audited as ``backup.run`` ``refused`` and changes nothing).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime

import structlog

from functions.context import Context
from functions.locks import stamp
from functions.operations.backups import policy
from functions.operations.backups.models import BackupResult, Snapshot
from functions.operations.backups.restic import ForgetReport, Restic, Write
from functions.operations.backups.volume_streams import check_exist, docker_volume_name, read_volumes
from functions.operations.common import locked, refusals_audited
from functions.operations.lifecycle import Target, resolve
from shared.docker_host import docker_client
from shared.errors import CfaError, NotFoundError
from shared.logging import get_logger

log = get_logger()


def stack_volumes(ctx: Context, target: Target) -> dict[str, str]:
    """The volumes to back up: name in the stack → Docker volume (refusals as ``check_backup_allowed``)."""
    names = policy.check_backup_allowed(ctx.settings, ctx.catalog, target.tenant, target.stack)
    return {name: docker_volume_name(target.stack.coolify_service_uuid, name) for name in names}


async def volumes_exist(ctx: Context, volumes: dict[str, str]) -> None:
    def check() -> None:
        client = docker_client(ctx.settings.docker_url)
        try:
            check_exist(client, volumes.values())
        finally:
            client.close()

    await asyncio.to_thread(check)


async def check_backup(ctx: Context, tenant: str, stack: str) -> tuple[Restic, Target, dict[str, str]]:
    """Whether the stack can be backed up now (see :func:`run_backup` for the refusals, audited):
    (the repository, the records, its volumes by name). Changes nothing else; the admin page checks
    this before it runs the backup in the background."""
    async with refusals_audited(ctx, "backup.run", tenant, stack):
        restic = Restic(ctx.settings)
        target = await resolve(ctx, tenant, stack)
        return restic, target, stack_volumes(ctx, target)


async def run_backup(ctx: Context, tenant: str, stack: str) -> BackupResult:
    """One snapshot of every volume of the stack, taken while it runs (see docs/backups.md on
    consistency). Refused, with nothing changed, for a plan without backups, a stateless template, a
    stack with no service yet, or when backups are not configured (ConfigurationError)."""
    with structlog.contextvars.bound_contextvars(
        operation="backup", operation_id=ctx.operation_id, tenant=tenant, stack=stack
    ):
        restic, target, volumes = await check_backup(ctx, tenant, stack)
        if ctx.dry_run:
            return BackupResult(
                target=f"{tenant}/{stack}", tenant=tenant, stack=stack, volumes=list(volumes), dry_run=True
            )
        async with locked(ctx, target.tenant.slug, f"backup {tenant}/{stack}"):
            async with refusals_audited(ctx, "backup.run", tenant, stack):
                target = await resolve(ctx, tenant, stack)
                volumes = stack_volumes(ctx, target)
            return await _backup(ctx, restic, target, volumes)


async def _backup(ctx: Context, restic: Restic, target: Target, volumes: dict[str, str]) -> BackupResult:
    store = ctx.store
    tenant, stack = target.tenant, target.stack
    when = ctx.wall().replace(microsecond=0)  # restic keeps whole seconds
    await store.audit(
        "backup.requested", tenant=tenant.slug, stack=stack.name, details={"volumes": sorted(volumes)}
    )
    image = ctx.settings.backup_helper_image

    def feed(write: Write) -> None:
        client = docker_client(ctx.settings.docker_url)
        try:
            check_exist(client, volumes.values())
            read_volumes(client, volumes, image, write)
        finally:
            client.close()

    try:
        created = await restic.ensure()
        summary = await restic.backup(
            feed, filename=policy.ARCHIVE, tags=policy.stack_tags(tenant, stack, volumes), when=when
        )
    except CfaError as err:
        with contextlib.suppress(CfaError):  # best effort: PocketBase may be what failed
            await store.update_stack(stack, last_backup_error=err.one_line()[:2000])
            await store.audit(
                "backup.failed",
                outcome="failed",
                tenant=tenant.slug,
                stack=stack.name,
                details={"error": err.kind, "reason": err.message[:500], "retryable": err.retryable},
            )
            await store.flush()
        raise
    await store.update_stack(
        stack, last_backup_at=stamp(when), last_backup_snapshot=summary.snapshot_id, last_backup_error=""
    )
    result = BackupResult(
        target=f"{tenant.slug}/{stack.name}",
        tenant=tenant.slug,
        stack=stack.name,
        snapshot=summary.snapshot_id,
        time=_iso(when),
        volumes=sorted(volumes),
        bytes_processed=summary.bytes_processed,
        bytes_added=summary.bytes_added,
        seconds=round(summary.seconds, 3),
        repository_created=created,
    )
    await store.audit(
        "backup.completed",
        tenant=tenant.slug,
        stack=stack.name,
        details=result.model_dump(
            include={"snapshot", "volumes", "bytes_processed", "bytes_added", "seconds"}
        ),
    )
    await store.flush()
    log.info(
        "backup.completed",
        snapshot=summary.snapshot_id,
        bytes_processed=summary.bytes_processed,
        bytes_added=summary.bytes_added,
    )
    return result


async def list_backups(ctx: Context, tenant: str, stack: str) -> list[Snapshot]:
    """The stack's snapshots, newest first (also of a deleted stack, and from before a re-provision).
    Reads only; an empty list when the repository does not exist yet."""
    restic = Restic(ctx.settings)
    target = await resolve(ctx, tenant, stack, allow_deleted=True)
    try:
        found = await restic.snapshots(policy.stack_selector(target.tenant.slug, target.stack.name))
    except NotFoundError:
        log.warning("backup.no_repository", repository=restic.repository)
        return []
    return [Snapshot.of(s) for s in reversed(found)]


async def apply_retention(ctx: Context, restic: Restic, selector: tuple[str, ...]) -> ForgetReport:
    """Forget the snapshots of one group (a stack, or PocketBase) that the policy no longer keeps
    (CFA_BACKUP_KEEP_DAILY / _WEEKLY). Their data is freed by the next ``restic prune``."""
    report = await restic.forget(
        selector, keep_daily=ctx.settings.backup_keep_daily, keep_weekly=ctx.settings.backup_keep_weekly
    )
    log.info("backup.forgotten", group=",".join(selector), kept=len(report.kept), removed=len(report.removed))
    if report.removed:
        await ctx.store.audit(
            "backup.forgotten",
            tenant=next((t.split("=", 1)[1] for t in selector if t.startswith("tenant=")), ""),
            stack=next((t.split("=", 1)[1] for t in selector if t.startswith("stack=")), ""),
            details={"removed": [s[:8] for s in report.removed], "kept": len(report.kept)},
        )
    return report


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
