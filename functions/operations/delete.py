"""Delete a stack: record the intent, delete the service (volumes kept unless asked), wait until Coolify
has really removed it, then delete the tenant's project if nothing else is left in it.

Idempotent: re-running after a timeout continues waiting; a service already gone counts as deleted.
The stack record stays (status=deleted) as history; its secrets are kept with the volumes, and deleted
with them. Writes: desired_state, status, uuids, the tenant's project uuid, audit ``delete.*`` events.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from functions.context import Context
from functions.operations.common import wait_until
from functions.operations.coolify_resources import find_services
from functions.operations.lifecycle import StackResult, Target, run_on_stack
from functions.records import Stack, Tenant
from functions.store import now_iso
from shared.errors import ConflictError, NotFoundError
from shared.logging import get_logger
from shared.naming import service_name

log = get_logger()


async def delete(
    ctx: Context, tenant: str, stack: str, *, delete_volumes: bool = False, wait: bool = True
) -> StackResult:
    """``delete_volumes=False`` (the default) keeps the tenant's data volumes on the host."""
    return await run_on_stack(
        ctx,
        "delete",
        tenant,
        stack,
        lambda t: _delete(ctx, t, delete_volumes=delete_volumes, wait=wait),
        allow_deleted=True,
    )


async def _delete(ctx: Context, target: Target, *, delete_volumes: bool, wait: bool) -> Target:
    store = ctx.store
    tenant, stack = target.tenant, target.stack
    stack = await store.update_stack(stack, desired_state="deleted", status="deleting")
    await store.audit(
        "delete.requested", tenant=tenant.slug, stack=stack.name, details={"delete_volumes": delete_volumes}
    )
    uuids = [stack.coolify_service_uuid] if stack.coolify_service_uuid else []
    if not uuids and tenant.coolify_project_uuid:
        # A crash between create and storing the uuid leaves a service only its name can find.
        uuids = await find_services(ctx, tenant.coolify_project_uuid, service_name(tenant.slug, stack.name))
    for uuid in uuids:
        stack = await _delete_service(ctx, stack, uuid, delete_volumes=delete_volumes, wait=wait)
    if delete_volumes:
        await store.delete_secrets(stack)
    stack = await store.update_stack(
        stack,
        status="deleted",
        coolify_service_uuid="",
        coolify_status="",
        compose_sha256="",
        env_sha256="",
        delete_requested_at="",
    )
    await store.audit(
        "delete.completed", tenant=tenant.slug, stack=stack.name, details={"service_uuids": uuids}
    )
    log.info("delete.completed", service_uuids=uuids)
    tenant = await _delete_project_if_empty(ctx, tenant)
    return Target(tenant, stack)


# Coolify may drop a queued job (e.g. a restart of its queue worker); after this long, ask again.
_RESEND_DELETE_AFTER = timedelta(hours=1)


async def _delete_service(
    ctx: Context, stack: Stack, uuid: str, *, delete_volumes: bool, wait: bool
) -> Stack:
    """Ask Coolify to delete ``uuid`` (once: a re-run only waits) and wait until it is really gone."""
    coolify = ctx.coolify
    try:
        await coolify.get_service(uuid)
    except NotFoundError:
        log.info("delete.service_already_gone", service_uuid=uuid)
        return stack
    requested = _parse_time(stack.delete_requested_at)
    if requested is None or datetime.now(UTC) - requested > _RESEND_DELETE_AFTER:
        stack = await ctx.store.update_stack(stack, delete_requested_at=now_iso())
        await coolify.delete_service(uuid, delete_volumes=delete_volumes)
        log.info("delete.service_delete_queued", service_uuid=uuid, delete_volumes=delete_volumes)
    else:
        log.info(
            "delete.waiting_for_queued_delete", service_uuid=uuid, requested_at=stack.delete_requested_at
        )
    if ctx.dry_run or not wait:
        return stack

    async def gone() -> bool | None:
        try:
            await coolify.get_service(uuid)
        except NotFoundError:
            return True
        return None

    await wait_until(
        ctx,
        gone,
        within=ctx.settings.delete_wait_seconds,
        what=f"Coolify deleting service {uuid}",
        advice="Coolify deletes in the background; re-run cfa delete to keep waiting",
    )
    return stack


def _parse_time(value: str) -> datetime | None:
    if not value:
        return None
    return datetime.strptime(value, "%Y-%m-%d %H:%M:%S.%fZ").replace(tzinfo=UTC)


async def _delete_project_if_empty(ctx: Context, tenant: Tenant) -> Tenant:
    """Remove the tenant's project once no stack of ours and no other resource is left in it."""
    if not tenant.coolify_project_uuid or ctx.dry_run:
        return tenant
    if any(s.active or s.status == "deleting" for s in await ctx.store.list_stacks(tenant)):
        return tenant
    try:
        environment = await ctx.coolify.get_environment(tenant.coolify_project_uuid)
    except NotFoundError:
        return await ctx.store.update_tenant(tenant, coolify_project_uuid="")
    if not environment.is_empty:
        log.info("delete.project_kept", project_uuid=tenant.coolify_project_uuid, reason="not empty")
        return tenant
    try:
        await ctx.coolify.delete_project(tenant.coolify_project_uuid)
    except ConflictError:
        log.info("delete.project_kept", project_uuid=tenant.coolify_project_uuid, reason="has resources")
        return tenant
    except NotFoundError:
        pass
    await ctx.store.audit(
        "delete.project_deleted", tenant=tenant.slug, details={"project_uuid": tenant.coolify_project_uuid}
    )
    log.info("delete.project_deleted", project_uuid=tenant.coolify_project_uuid)
    return await ctx.store.update_tenant(tenant, coolify_project_uuid="")
