"""Delete a stack: record the intent, ask Coolify once to delete the service (volumes kept unless asked),
and finish when Coolify is observed to have removed it: then the secrets go with the volumes, and the
tenant's project goes once nothing else is left in it.

Idempotent: re-running while Coolify works only waits (a queued delete is asked again only after an
hour); a service already gone counts as deleted. While Coolify works the stack is ``deleting`` and
keeps its service uuid, so nothing can adopt the dying service. The record stays (status=deleted) as
history. Kept volumes are named on the stack (``kept_volumes``), in the audit trail and in the result.
Writes: desired_state, status, transition_at, delete_volumes, kept_volumes, uuids, the tenant's project
uuid, audit ``delete.*`` events.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from functions.context import Context
from functions.operations.common import await_settled, raise_unless
from functions.operations.coolify_resources import find_services
from functions.operations.lifecycle import StackResult, Target, run_on_stack
from functions.operations.settle import settle
from functions.records import Stack, Tenant
from functions.store import now_iso
from shared.errors import ConflictError, DuplicateResourcesError, NotFoundError
from shared.logging import get_logger
from shared.naming import service_name

log = get_logger()

# Coolify may drop a queued job (e.g. a restart of its queue worker); after this long, ask again.
_RESEND_DELETE_AFTER = timedelta(hours=1)


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


def volume_names(ctx: Context, stack: Stack, service_uuid: str) -> list[str]:
    """The Docker volumes Coolify made for the stack's named volumes: ``<service uuid>_<name>``."""
    try:
        template = ctx.catalog.get(stack.template)
    except NotFoundError:
        return []
    return [f"{service_uuid}_{v.name.replace('_', '-')}" for v in template.meta.volumes]


async def _delete(ctx: Context, target: Target, *, delete_volumes: bool, wait: bool) -> Target:
    store = ctx.store
    tenant, stack = target.tenant, target.stack
    if stack.status == "deleted" and not stack.coolify_service_uuid:
        if delete_volumes and stack.kept_volumes:
            raise ConflictError(
                f"{tenant.slug}/{stack.name} was deleted with its volumes kept, and Coolify can no longer "
                f"remove them: {', '.join(stack.kept_volumes)}",
                advice="back them up if needed, then remove them on the host with `docker volume rm`",
            )
        return target  # already deleted: nothing to do
    uuid = stack.coolify_service_uuid
    if not uuid and tenant.coolify_project_uuid and not ctx.offline:
        # A crash between create and storing the uuid leaves a service only its name can find.
        name = service_name(tenant.slug, stack.name)
        found = await find_services(ctx, tenant.coolify_project_uuid, name)
        if len(found) > 1:
            raise DuplicateResourcesError("service", name, found)
        uuid = found[0] if found else ""
    kept = [] if delete_volumes or not uuid else volume_names(ctx, stack, uuid)
    stack = await store.update_stack(
        stack,
        desired_state="deleted",
        status="deleting",
        transition_at=now_iso(),
        coolify_service_uuid=uuid,
        delete_volumes=delete_volumes,
        kept_volumes=kept or None,
        last_error="",
    )
    await store.audit(
        "delete.requested",
        tenant=tenant.slug,
        stack=stack.name,
        details={"service_uuid": uuid, "delete_volumes": delete_volumes, "kept_volumes": kept},
    )
    if not uuid:
        stack = await settle(ctx, tenant, stack, None, elapsed=0.0)  # nothing in Coolify: deleted now
        return Target(tenant, stack)
    stack = await _request_deletion(ctx, stack, uuid)
    if ctx.dry_run or (not wait and stack.status == "deleting"):
        return Target(tenant, stack)
    if stack.status == "deleting":
        stack = await await_settled(ctx, tenant, stack)
    advice = (
        f"Coolify deletes in the background; re-run cfa delete {tenant.slug}/{stack.name} to keep waiting"
    )
    raise_unless(stack, "deleted", retry=advice)
    return Target(await ctx.store.get_tenant(tenant.slug), stack)


async def _request_deletion(ctx: Context, stack: Stack, uuid: str) -> Stack:
    """Ask Coolify to delete ``uuid`` unless it already was asked within the hour."""
    requested = _parse_time(stack.delete_requested_at)
    if requested is not None and datetime.now(UTC) - requested <= _RESEND_DELETE_AFTER:
        log.info(
            "delete.waiting_for_queued_delete", service_uuid=uuid, requested_at=stack.delete_requested_at
        )
        return stack
    stack = await ctx.store.update_stack(stack, delete_requested_at=now_iso())
    try:
        await ctx.coolify.delete_service(uuid, delete_volumes=stack.delete_volumes)
    except NotFoundError:
        log.info("delete.service_already_gone", service_uuid=uuid)
        return stack
    log.info("delete.service_delete_queued", service_uuid=uuid, delete_volumes=stack.delete_volumes)
    return stack


def _parse_time(value: str) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def finish_delete(ctx: Context, tenant: Tenant, stack: Stack, fields: dict[str, Any]) -> Stack:
    """Coolify no longer has the stack's service: record it deleted (with ``fields`` from the
    observation), drop the secrets if the volumes went too, remove the emptied project, audit."""
    uuid = stack.coolify_service_uuid
    if stack.delete_volumes:
        await ctx.store.delete_secrets(stack)
    cleared = {
        "status": "deleted",
        "coolify_service_uuid": "",
        "coolify_status": "",
        "compose_sha256": "",
        "env_sha256": "",
        "delete_requested_at": "",
        "transition_at": "",
        "last_error": "",
        "reserved": None,  # its capacity claim ends with it (kept volumes are not counted)
    }
    stack = await ctx.store.update_stack(stack, **{**fields, **cleared})
    kept = stack.kept_volumes or []
    await ctx.store.audit(
        "delete.completed",
        tenant=tenant.slug,
        stack=stack.name,
        details={"service_uuid": uuid, "delete_volumes": stack.delete_volumes, "kept_volumes": kept},
    )
    log.info("delete.completed", service_uuid=uuid, kept_volumes=kept)
    await _delete_project_if_empty(ctx, tenant)
    return stack


async def _delete_project_if_empty(ctx: Context, tenant: Tenant) -> Tenant:
    """Remove the tenant's project once no stack of ours and no other resource is left in it."""
    tenant = await ctx.store.get_tenant(tenant.slug)  # another stack's delete may have changed it
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
