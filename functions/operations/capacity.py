"""The capacity report behind ``cfa capacity`` and the admin page: per Coolify server and resource,
allocated / budget (with the overcommit), and how many more stacks of each template and plan fit.

What is counted, and how a claim is made, is in ``capacity_claims.py``; the arithmetic in
``shared/capacity.py``. Reads PocketBase (the ledger) and Coolify's server list; writes nothing.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from functions.context import Context
from functions.operations.capacity_claims import Claim, claims_on, largest_need, ledger
from shared.capacity import RESOURCES, Amount, Resource, budget_for, capacity_of, fits_count, show
from shared.coolify.models import Server
from shared.errors import AuthError, CfaError, ConfigurationError
from shared.plans import PLAN_ORDER, get_plan
from shared.settings import Settings


class ResourceLine(BaseModel):
    """One resource of one server. CPU in CPUs, memory and disk in bytes; ``capacity`` = ``budget`` x
    ``overcommit`` (None: no budget)."""

    resource: Resource
    unit: str
    allocated: float
    budget: float | None = None
    overcommit: float
    capacity: float | None = None
    free: float | None = None


class TemplateFit(BaseModel):
    """How many more stacks of a template on a plan fit (None: unknown), each claiming the most it can
    (every optional service, its volume budget)."""

    template: str
    plan: str
    cpus: float
    memory_bytes: int
    volume_bytes: int
    fits: int | None = None


class ServerReport(BaseModel):
    uuid: str
    name: str
    coolify: str  # usable / not usable or not reachable / build server / not listed by Coolify / unknown
    new_stacks: bool  # whether a new stack may be placed here
    budget_source: str  # "server" (its own entry), "default", or "" (no budget)
    stacks: list[str] = Field(default_factory=list)
    resources: list[ResourceLine] = Field(default_factory=list)
    fits: list[TemplateFit] = Field(default_factory=list)


class CapacityReport(BaseModel):
    configured: bool
    overcommit: dict[str, float]
    servers: list[ServerReport]
    fits: list[TemplateFit]  # summed over the servers that take new stacks
    unplaced: list[str] = Field(default_factory=list)  # claiming stacks whose server was never recorded
    uncounted: list[str] = Field(default_factory=list)  # stacks that could not be counted
    notes: list[str] = Field(default_factory=list)


async def capacity_report(ctx: Context) -> CapacityReport:
    """Allocated / budget per server and resource, and how many more stacks of each template (and plan)
    fit, per server and in total. Reads PocketBase (the ledger) and Coolify's server list; writes
    nothing."""
    settings = ctx.settings
    claims, uncounted = await ledger(ctx, names=True)
    notes: list[str] = []
    listed: list[Server] | None = None
    try:
        listed = await ctx.coolify.list_servers()
    except (ConfigurationError, AuthError):
        raise
    except CfaError as err:
        notes.append(f"Coolify did not answer ({err.kind}): servers are shown from the configuration")
    if ctx.offline:
        notes.append("no Coolify configured (CFA_COOLIFY_URL): the server shown is a dry-run placeholder")
    if not settings.capacity:
        notes.append("capacity is unknown: CFA_CAPACITY is not set, so nothing is refused (docs/capacity.md)")
    servers = _servers(settings, listed, claims)
    needs = _template_needs(ctx)
    answered = listed is not None and not ctx.offline
    reports = [
        _server_report(ctx, uuid, server, claims, needs, answered=answered)
        for uuid, server in servers.items()
    ]
    totals = []
    for template, plan, need in needs:
        counts = [
            next(f.fits for f in r.fits if (f.template, f.plan) == (template, plan))
            for r in reports
            if r.new_stacks
        ]
        known = [c for c in counts if c is not None]
        totals.append(
            TemplateFit(
                template=template,
                plan=plan,
                cpus=need.cpus,
                memory_bytes=need.memory,
                volume_bytes=need.disk,
                fits=sum(known) if known and len(known) == len(counts) else None,
            )
        )
    return CapacityReport(
        configured=bool(settings.capacity),
        overcommit={r: settings.capacity_overcommit.ratio(r) for r in RESOURCES},
        servers=reports,
        fits=totals,
        unplaced=[f"{c.tenant}/{c.stack}" for c in claims if not c.server_uuid],
        uncounted=uncounted,
        notes=notes,
    )


def _servers(
    settings: Settings, listed: list[Server] | None, claims: list[Claim]
) -> dict[str, Server | None]:
    """Coolify's servers in its order, then budgeted or claimed ones it does not list."""
    servers: dict[str, Server | None] = {s.uuid: s for s in listed or []}
    for uuid in [*settings.capacity, *(c.server_uuid for c in claims)]:
        if uuid and uuid != "default" and uuid not in servers:
            servers[uuid] = None
    return servers


def _template_needs(ctx: Context) -> list[tuple[str, str, Amount]]:
    needs = []
    for template in ctx.catalog:
        for plan_name in PLAN_ORDER[PLAN_ORDER.index(template.meta.plan_minimum) :]:
            try:
                plan = get_plan(plan_name, ctx.settings)
            except CfaError:
                continue
            needs.append((template.name, plan_name, largest_need(template, plan)))
    return needs


def _server_report(
    ctx: Context,
    uuid: str,
    server: Server | None,
    claims: list[Claim],
    needs: list[tuple[str, str, Amount]],
    *,
    answered: bool,
) -> ServerReport:
    settings = ctx.settings
    budget, source = budget_for(settings.capacity, uuid)
    capacity = capacity_of(budget, settings.capacity_overcommit) if budget is not None else None
    on_server = [c for c in claims if c.server_uuid == uuid]
    allocated = claims_on(claims, uuid)
    if server is None:
        state = "not listed by Coolify" if answered else "unknown (Coolify did not say)"
    elif server.can_host:
        state = "usable"
    elif bool(server.settings.get("is_build_server")) or server.is_build_server:
        state = "build server"
    else:
        state = "not usable or not reachable"
    pinned = settings.coolify_server_uuid
    new_stacks = (
        state == "usable"
        and (not pinned or pinned == uuid)
        and (capacity is not None or not settings.capacity)
    )
    budget_values = (
        {"cpu": budget.cpus * 1000, "memory": budget.memory, "disk": budget.disk} if budget else {}
    )
    lines = []
    for resource in RESOURCES:
        scale = 1000 if resource == "cpu" else 1
        cap = capacity.get(resource) if capacity is not None else None
        lines.append(
            ResourceLine(
                resource=resource,
                unit="cpus" if resource == "cpu" else "bytes",
                allocated=allocated.get(resource) / scale,
                budget=budget_values[resource] / scale if budget_values else None,
                overcommit=settings.capacity_overcommit.ratio(resource),
                capacity=cap / scale if cap is not None else None,
                free=(cap - allocated.get(resource)) / scale if cap is not None else None,
            )
        )
    fits = [
        TemplateFit(
            template=template,
            plan=plan,
            cpus=need.cpus,
            memory_bytes=need.memory,
            volume_bytes=need.disk,
            fits=fits_count(allocated, need, capacity) if capacity is not None else None,
        )
        for template, plan, need in needs
    ]
    return ServerReport(
        uuid=uuid,
        name=server.name if server is not None else "",
        coolify=state,
        new_stacks=new_stacks,
        budget_source=source,
        stacks=[f"{c.tenant}/{c.stack}" for c in on_server],
        resources=lines,
        fits=fits,
    )


def describe_line(line: ResourceLine) -> str:
    """``3.25 / 24 CPUs (12 x2.0)`` — allocated / capacity, and the budget with its overcommit."""
    resource: Resource = line.resource
    scale = 1000 if resource == "cpu" else 1
    allocated = show(resource, round(line.allocated * scale))
    if line.capacity is None or line.budget is None:
        return f"{allocated} / ?"
    capacity = show(resource, round(line.capacity * scale))
    if line.overcommit == 1.0:
        return f"{allocated} / {capacity}"
    budget = show(resource, round(line.budget * scale))
    return f"{allocated} / {capacity} ({budget} x{line.overcommit:g})"
