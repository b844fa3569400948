"""Restore a stack's volumes from one of its snapshots: stop, check, restore, start, audit each step.

Under the tenant's lock: a running stack is stopped the way ``cfa suspend`` stops it (Coolify's stop,
then the observation that it stopped); no running container may mount a target volume — if one still
does, the restore is refused and the data left alone; the snapshot is unpacked into a staging volume
and only then copied over the stack's volumes (emptied first); the stack is started the way
``cfa resume`` starts it. A stack that was suspended stays suspended. Audit events:
``backup.restore_requested``, ``backup.restore_stopped``, ``backup.restored``,
``backup.restore_started`` — or ``backup.restore_failed`` (with the step), and ``backup.restore``
``refused`` for a refusal, which changes nothing.

Re-running after a failure is safe: it starts again from the snapshot. A failure before the copy
began leaves the volumes untouched and the stack is started again; one during the copy leaves the
stack stopped (its data is incomplete) with the advice to re-run.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable

import structlog

from functions.context import Context
from functions.operations.backups import policy
from functions.operations.backups.models import RestoreResult
from functions.operations.backups.restic import Restic, ResticSnapshot
from functions.operations.backups.stack_backup import volumes_exist
from functions.operations.backups.volume_streams import (
    create_staging,
    docker_volume_name,
    fill_staging,
    remove_volume,
    replace_from_staging,
    running_users,
)
from functions.operations.common import locked, refusals_audited
from functions.operations.lifecycle import StackResult, Target, resolve, result
from functions.operations.resume import resume
from functions.operations.settle import TRANSITIONAL
from functions.operations.suspend import suspend
from shared.docker_host import docker_client
from shared.errors import CfaError, ConflictError, InvalidInput, NotFoundError
from shared.logging import get_logger
from shared.pocketbase.filters import pb_filter

log = get_logger()

_SNAPSHOT_ID = re.compile(r"^[0-9a-f]{4,64}$")


async def find_snapshot(restic: Restic, tenant: str, stack: str, snapshot: str) -> ResticSnapshot:
    """The snapshot ``snapshot`` (a unique id prefix) of this stack; refused when it is another's."""
    if not _SNAPSHOT_ID.match(snapshot):
        raise InvalidInput(
            "--snapshot", f"{snapshot[:70]!r} is not a snapshot id", advice="see cfa backup list TENANT/STACK"
        )
    matches = [s for s in await restic.snapshots() if s.id.startswith(snapshot)]
    if not matches:
        raise NotFoundError(
            f"there is no snapshot {snapshot}", advice=f"see its snapshots: cfa backup list {tenant}/{stack}"
        )
    if len(matches) > 1:
        raise InvalidInput(
            "--snapshot", f"{snapshot} matches {len(matches)} snapshots", advice="give more of its id"
        )
    found = matches[0]
    owner = (found.tag("kind"), found.tag("tenant"), found.tag("stack"))
    if owner != ("stack", tenant, stack):
        whose = f"{owner[1]}/{owner[2]}" if owner[0] == "stack" else owner[0] or "something else"
        raise ConflictError(
            f"snapshot {snapshot} is a backup of {whose}, not of {tenant}/{stack}",
            advice=f"choose one of its own: cfa backup list {tenant}/{stack}",
        )
    return found


def _targets(target: Target, snapshot: ResticSnapshot) -> dict[str, str]:
    """The volumes to restore: those the snapshot has, as the stack's current service names them."""
    ref = f"{target.tenant.slug}/{target.stack.name}"
    stack = target.stack
    if stack.status in TRANSITIONAL:
        raise ConflictError(
            f"stack {ref} is {stack.status}",
            advice=f"wait until it settles (cfa status {target.tenant.slug})",
        )
    if stack.desired_state == "deleted" or not stack.coolify_service_uuid:
        raise ConflictError(
            f"stack {ref} has no service to restore into",
            advice=f"provision it: cfa provision {target.tenant.slug} {stack.template} --name {stack.name}",
        )
    names = snapshot.tag_values("volume")
    if not names:
        raise ConflictError(f"snapshot {snapshot.short_id} holds no volumes", advice="choose another one")
    return {name: docker_volume_name(stack.coolify_service_uuid, name) for name in names}


async def check_restore(
    ctx: Context, tenant: str, stack: str, snapshot: str
) -> tuple[Restic, Target, ResticSnapshot, dict[str, str]]:
    """Whether ``snapshot`` can be restored into the stack now: it is this stack's, the stack has a
    service and is not in transition, the volumes exist (a refusal is audited and changes nothing).
    Sends nothing to Coolify; the admin page checks this before it runs the restore in the background."""
    async with refusals_audited(ctx, "backup.restore", tenant, stack):
        restic = Restic(ctx.settings)
        target = await resolve(ctx, tenant, stack)
        chosen = await find_snapshot(restic, target.tenant.slug, target.stack.name, snapshot)
        volumes = _targets(target, chosen)
        await volumes_exist(ctx, volumes)
    return restic, target, chosen, volumes


async def restore_backup(
    ctx: Context, tenant: str, stack: str, snapshot: str, *, wait: bool = True
) -> RestoreResult:
    """Restore the stack's volumes from ``snapshot`` (see the module docstring). ``wait``: wait for
    the stack to run again (the stop is always waited for). A dry run checks everything, shows the
    Coolify calls and changes nothing."""
    with structlog.contextvars.bound_contextvars(
        operation="backup.restore",
        operation_id=ctx.operation_id,
        dry_run=ctx.dry_run,
        tenant=tenant,
        stack=stack,
    ):
        restic, target, chosen, volumes = await check_restore(ctx, tenant, stack, snapshot)
        if ctx.dry_run:
            return await _dry_run(ctx, target, chosen, volumes)
        async with locked(ctx, target.tenant.slug, f"backup restore {tenant}/{stack}"):
            async with refusals_audited(ctx, "backup.restore", tenant, stack):
                target = await resolve(ctx, tenant, stack)
                volumes = _targets(target, chosen)
            return await _restore(ctx, restic, target, chosen, volumes, wait=wait)


async def _dry_run(
    ctx: Context, target: Target, chosen: ResticSnapshot, volumes: dict[str, str]
) -> RestoreResult:
    running = target.stack.desired_state == "running"
    if running:  # records the stop and start calls (nothing is sent, nothing written)
        await suspend(ctx, target.tenant.slug, target.stack.name)
        await resume(ctx, target.tenant.slug, target.stack.name, wait=False)
    return RestoreResult(
        **result(ctx, target).model_dump(),
        snapshot=chosen.short_id,
        volumes=sorted(volumes),
        stopped=running,
        started=running,
    )


async def _restore(
    ctx: Context,
    restic: Restic,
    target: Target,
    chosen: ResticSnapshot,
    volumes: dict[str, str],
    *,
    wait: bool,
) -> RestoreResult:
    store = ctx.store
    slug, name = target.tenant.slug, target.stack.name
    before = await desired_before(ctx, target)
    running = before == "running"
    details = {"snapshot": chosen.short_id, "volumes": sorted(volumes)}
    await store.audit(
        "backup.restore_requested",
        tenant=slug,
        stack=name,
        details={**details, "desired_state": before, "status": target.stack.status},
    )
    await store.flush()  # the intent: a re-run after a crash finds the state to come back to here
    stop_now = running and target.stack.desired_state == "running"  # else a crashed restore stopped it
    if stop_now:
        await _step(ctx, target, "stop", suspend(ctx, slug, name), volumes_changed=False)
    await store.audit("backup.restore_stopped", tenant=slug, stack=name, details={"stopped_now": stop_now})
    log.info("backup.restore_stopped", stopped_now=stop_now)
    users = await asyncio.to_thread(_running_users, ctx, volumes)
    if users:
        err = ConflictError(
            f"the volumes of {slug}/{name} are still mounted by running container(s) {', '.join(users)}; "
            "nothing was restored",
            advice="find out what runs them (docker ps --filter volume=…) and stop it, then re-run",
        )
        await store.audit(
            "backup.restore",
            outcome="refused",
            tenant=slug,
            stack=name,
            details={**details, "reason": err.message[:500], "error": err.kind},
        )
        if running:
            await _step(ctx, target, "start", resume(ctx, slug, name, wait=wait), volumes_changed=False)
        await store.flush()
        raise err
    try:
        await _restore_volumes(ctx, restic, chosen, volumes)
    except CfaError as err:
        changed = bool(err.details.get("targets_changed"))
        await _failed(ctx, target, "restore", err, volumes_changed=changed)
        if running and not changed:  # the data is as it was: back to the state before
            await _step(ctx, target, "start", resume(ctx, slug, name, wait=wait), volumes_changed=False)
        raise
    await store.audit("backup.restored", tenant=slug, stack=name, details=details)
    log.info("backup.restored", **details)
    if running:
        started = await _step(ctx, target, "start", resume(ctx, slug, name, wait=wait), volumes_changed=True)
        await store.audit(
            "backup.restore_started", tenant=slug, stack=name, details={"status": started.status}
        )
    final = await resolve(ctx, slug, name)
    await store.flush()
    return RestoreResult(
        **result(ctx, final).model_dump(),
        snapshot=chosen.short_id,
        volumes=sorted(volumes),
        stopped=stop_now,
        started=running,
    )


_UNFINISHED = ("backup.restore_requested", "backup.restore_stopped", "backup.restored")


async def desired_before(ctx: Context, target: Target) -> str:
    """The state the stack must end in: its desired state, unless an earlier restore stopped it and
    did not finish (it crashed, or its copy failed half-way): then the state from before that one."""
    query = "tenant = {:tenant} && stack = {:stack} && action ~ 'backup.restore'"
    latest = await ctx.pb.first(
        "audit_events",
        pb_filter(query, tenant=target.tenant.slug, stack=target.stack.name),
        sort="-time,-seq",
    )
    if latest is None:
        return target.stack.desired_state
    action, details = str(latest.get("action")), latest.get("details") or {}
    if action not in _UNFINISHED and not (
        action == "backup.restore_failed" and details.get("volumes_changed")
    ):
        return target.stack.desired_state
    requested = await ctx.pb.first(
        "audit_events",
        pb_filter(
            "action = 'backup.restore_requested' && operation_id = {:op}", op=str(latest.get("operation_id"))
        ),
    )
    earlier = str(((requested or {}).get("details") or {}).get("desired_state") or "")
    log.info("backup.restore_resumes_unfinished", operation=latest.get("operation_id"), desired_state=earlier)
    return earlier or target.stack.desired_state


async def _step(
    ctx: Context, target: Target, step: str, action: Awaitable[StackResult], *, volumes_changed: bool
) -> StackResult:
    """Await the stop or start; its failure is audited as ``backup.restore_failed`` with the step."""
    try:
        return await action
    except CfaError as err:
        await _failed(ctx, target, step, err, volumes_changed=volumes_changed)
        raise


async def _failed(ctx: Context, target: Target, step: str, err: CfaError, *, volumes_changed: bool) -> None:
    log.warning("backup.restore_failed", step=step, error=err.kind, reason=err.message)
    await ctx.store.audit(
        "backup.restore_failed",
        outcome="failed",
        tenant=target.tenant.slug,
        stack=target.stack.name,
        details={
            "step": step,
            "error": err.kind,
            "reason": err.message[:500],
            "volumes_changed": volumes_changed,
        },
    )
    await ctx.store.flush()


def _running_users(ctx: Context, volumes: dict[str, str]) -> list[str]:
    client = docker_client(ctx.settings.docker_url)
    try:
        return running_users(client, volumes.values())
    finally:
        client.close()


async def _restore_volumes(
    ctx: Context, restic: Restic, chosen: ResticSnapshot, volumes: dict[str, str]
) -> None:
    """Snapshot → staging volume → (emptied) target volumes; the staging volume is always removed."""
    image = ctx.settings.backup_helper_image
    staging = f"cfa-restore-{ctx.operation_id}"
    client = docker_client(ctx.settings.docker_url)
    try:
        await asyncio.to_thread(create_staging, client, staging)
        try:
            await restic.dump(
                chosen.id, policy.ARCHIVE, lambda chunks: fill_staging(client, staging, image, chunks)
            )
            await asyncio.to_thread(replace_from_staging, client, staging, volumes, image)
        finally:
            await asyncio.to_thread(remove_volume, client, staging)
    finally:
        client.close()
