"""Find-or-create of the tenant's Coolify project and a stack's service, and the server choice.

The order is always: the uuid stored in PocketBase, else exactly one resource with the deterministic
name, else create — recording the intent first and storing the uuid the moment it exists. More than
one match stops everything (a human decides which one holds the tenant's data). A create whose answer
was lost is resolved by looking it up by name, never by sending it again blindly.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from functions.context import Context
from functions.records import Stack, Tenant
from functions.store import now_iso
from shared.coolify.models import ProjectCreate, Server, ServiceCreate
from shared.errors import AmbiguousWriteError, ConfigurationError, DuplicateResourcesError, NotFoundError
from shared.logging import get_logger
from shared.naming import project_name, service_name
from shared.rendering import RenderedStack

log = get_logger()


@dataclass(frozen=True)
class Placement:
    server_uuid: str
    destination_uuid: str | None


async def choose_server(ctx: Context) -> Placement:
    """CFA_COOLIFY_SERVER_UUID if set (it must be usable), else the first usable and reachable server."""
    return await placement_on(ctx, (await hosting_servers(ctx))[0])


async def hosting_servers(ctx: Context) -> list[Server]:
    """The servers a new stack may go to, in Coolify's order: [CFA_COOLIFY_SERVER_UUID] if set (it must be
    usable and reachable), else every usable and reachable server that is not a build server.
    ConfigurationError when there is none."""
    settings = ctx.settings
    if settings.coolify_server_uuid:
        try:
            server = await ctx.coolify.get_server(settings.coolify_server_uuid)
        except NotFoundError as err:
            raise ConfigurationError(
                f"CFA_COOLIFY_SERVER_UUID={settings.coolify_server_uuid} is not a server this token can see",
                advice="run cfa doctor to list the servers",
            ) from err
        if not server.can_host:
            raise ConfigurationError(
                f"server {server.name} ({server.uuid}) is not usable and reachable, or is a build server",
                advice="fix the server in Coolify or choose another with CFA_COOLIFY_SERVER_UUID",
            )
        return [server]
    servers = await ctx.coolify.list_servers()
    usable = [s for s in servers if s.can_host]
    if not usable:
        raise ConfigurationError(
            f"none of the {len(servers)} Coolify servers is usable and reachable",
            advice="check the servers in Coolify (Servers → Validate), or set CFA_COOLIFY_SERVER_UUID",
        )
    return usable


async def placement_on(ctx: Context, server: Server) -> Placement:
    """Where on ``server`` a service goes: its destination (CFA_COOLIFY_DESTINATION_UUID when it has
    several; ConfigurationError when that is not one of its own)."""
    destinations = await ctx.coolify.list_destinations(server.uuid)
    wanted = ctx.settings.coolify_destination_uuid
    if wanted:
        if wanted not in {d.uuid for d in destinations}:
            raise ConfigurationError(
                f"CFA_COOLIFY_DESTINATION_UUID={wanted} is not a destination of server {server.name}",
                advice="run cfa doctor to list its destinations",
            )
        return Placement(server.uuid, wanted)
    if len(destinations) > 1:
        listed = ", ".join(f"{d.name} ({d.uuid})" for d in destinations)
        raise ConfigurationError(
            f"server {server.name} has {len(destinations)} destinations: {listed}",
            advice="choose one with CFA_COOLIFY_DESTINATION_UUID",
        )
    return Placement(server.uuid, None)


@dataclass(frozen=True)
class ProjectRef:
    tenant: Tenant  # the tenant record as updated
    uuid: str
    created: bool  # made by this run, so it holds nothing yet


async def ensure_project(ctx: Context, tenant: Tenant) -> ProjectRef:
    """The tenant's project, creating ``cf-<slug>`` if needed."""
    store, coolify = ctx.store, ctx.coolify
    name = project_name(tenant.slug)
    if tenant.coolify_project_uuid and ctx.offline:
        return ProjectRef(tenant, tenant.coolify_project_uuid, created=False)
    if tenant.coolify_project_uuid:
        try:
            await coolify.get_project(tenant.coolify_project_uuid)
            return ProjectRef(tenant, tenant.coolify_project_uuid, created=False)
        except NotFoundError:
            log.warning("provision.project_missing", project_uuid=tenant.coolify_project_uuid)
            await store.audit(
                "provision.project_missing",
                outcome="failed",
                tenant=tenant.slug,
                details={"project_uuid": tenant.coolify_project_uuid},
            )
            tenant = await store.update_tenant(tenant, coolify_project_uuid="")
    adopted = await _adopt_project(ctx, tenant, name)
    if adopted is not None:
        return adopted
    tenant = await store.update_tenant(tenant, project_create_pending_at=now_iso())
    try:
        project_uuid = await coolify.create_project(
            ProjectCreate(name=name, description=f"CloudFreedom tenant {tenant.slug}")
        )
    except AmbiguousWriteError:
        log.warning("provision.project_create_ambiguous", name=name)
        adopted = await _adopt_project(ctx, tenant, name)
        if adopted is not None:
            return adopted
        raise
    tenant = await store.update_tenant(
        tenant, coolify_project_uuid=project_uuid, project_create_pending_at=""
    )
    log.info("provision.project_created", project_uuid=project_uuid)
    await store.audit(
        "provision.project_created", tenant=tenant.slug, details={"project_uuid": project_uuid, "name": name}
    )
    return ProjectRef(tenant, project_uuid, created=True)


async def _adopt_project(ctx: Context, tenant: Tenant, name: str) -> ProjectRef | None:
    matches = await ctx.coolify.find_projects(name)
    if len(matches) > 1:
        await ctx.store.audit(
            "provision.duplicate_projects",
            outcome="failed",
            tenant=tenant.slug,
            details={"name": name, "uuids": [p.uuid for p in matches]},
        )
        raise DuplicateResourcesError("project", name, [p.uuid for p in matches])
    if not matches:
        return None
    project_uuid = matches[0].uuid
    tenant = await ctx.store.update_tenant(
        tenant, coolify_project_uuid=project_uuid, project_create_pending_at=""
    )
    log.info("provision.project_adopted", project_uuid=project_uuid)
    await ctx.store.audit(
        "provision.project_adopted", tenant=tenant.slug, details={"project_uuid": project_uuid, "name": name}
    )
    return ProjectRef(tenant, project_uuid, created=False)


async def find_services(ctx: Context, project_uuid: str, name: str) -> list[str]:
    """Uuids of the services named ``name`` inside the project's production environment."""
    try:
        environment = await ctx.coolify.get_environment(project_uuid)
    except NotFoundError:
        return []
    return [str(s["uuid"]) for s in environment.services if s.get("name") == name]


async def ensure_service(
    ctx: Context,
    tenant: Tenant,
    stack: Stack,
    project: ProjectRef,
    place: Callable[[], Awaitable[Placement]],
    rendered: RenderedStack,
) -> tuple[Stack, bool]:
    """The stack's service uuid, creating ``cf-<tenant>-<stack>`` if needed; True if it was created.

    ``place`` chooses the server, and is called only when a service must be created.
    """
    store, coolify = ctx.store, ctx.coolify
    name = service_name(tenant.slug, stack.name)
    if stack.coolify_service_uuid and ctx.offline:
        return stack, False
    if stack.coolify_service_uuid:
        try:
            await coolify.get_service(stack.coolify_service_uuid)
            return stack, False
        except NotFoundError:
            log.warning("provision.service_missing", service_uuid=stack.coolify_service_uuid)
            await store.audit(
                "provision.service_missing",
                outcome="failed",
                tenant=tenant.slug,
                stack=stack.name,
                details={"service_uuid": stack.coolify_service_uuid},
            )
            stack = await store.update_stack(stack, coolify_service_uuid="", compose_sha256="", env_sha256="")
    project_uuid = project.uuid
    # A project this run created is empty: no lookup needed.
    adopted = None if project.created else await _adopt_service(ctx, tenant, stack, project_uuid, name)
    if adopted is not None:
        return adopted, False
    placement = await place()
    if not stack.service_create_pending_at:
        stack = await store.update_stack(stack, service_create_pending_at=now_iso())
    body = ServiceCreate.from_compose(
        rendered.compose_yaml,
        name=name,
        description=f"CloudFreedom tenant {tenant.slug}, stack {stack.name} ({stack.template})",
        project_uuid=project_uuid,
        server_uuid=placement.server_uuid,
        destination_uuid=placement.destination_uuid,
        urls=rendered.urls or None,
        instant_deploy=False,
    )
    try:
        created = await coolify.create_service(body)
    except AmbiguousWriteError:
        log.warning("provision.service_create_ambiguous", name=name)
        adopted = await _adopt_service(ctx, tenant, stack, project_uuid, name)
        if adopted is not None:
            return adopted, False
        raise
    stack = await store.update_stack(
        stack,
        coolify_service_uuid=created.uuid,
        server_uuid=placement.server_uuid,
        compose_sha256=rendered.sha256,
        service_create_pending_at="",
    )
    log.info("provision.service_created", service_uuid=created.uuid)
    await store.audit(
        "provision.service_created",
        tenant=tenant.slug,
        stack=stack.name,
        details={"service_uuid": created.uuid, "name": name, "compose_sha256": rendered.sha256},
    )
    return stack, True


async def _adopt_service(
    ctx: Context, tenant: Tenant, stack: Stack, project_uuid: str, name: str
) -> Stack | None:
    uuids = await find_services(ctx, project_uuid, name)
    if len(uuids) > 1:
        await ctx.store.audit(
            "provision.duplicate_services",
            outcome="failed",
            tenant=tenant.slug,
            stack=stack.name,
            details={"name": name, "uuids": uuids},
        )
        raise DuplicateResourcesError("service", name, uuids)
    if not uuids:
        return None
    # An adopted service's compose and envs are unknown to us: clear the hashes so they are re-sent.
    stack = await ctx.store.update_stack(
        stack, coolify_service_uuid=uuids[0], service_create_pending_at="", compose_sha256="", env_sha256=""
    )
    log.info("provision.service_adopted", service_uuid=uuids[0])
    await ctx.store.audit(
        "provision.service_adopted", tenant=tenant.slug, stack=stack.name, details={"service_uuid": uuids[0]}
    )
    return stack
