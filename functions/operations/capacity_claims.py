"""The capacity guard: what every stack claims of its Coolify server's budget, the check-and-claim a
provision or a plan change makes before any Coolify write, and placement across servers. The report
(``cfa capacity``, the admin page) is ``capacity.py``.

A **claim** is recorded on the stack record — ``server_uuid`` and ``reserved`` ({cpus, memory_bytes,
volume_bytes, plan}) — under one lock shared by every process (``operation_locks`` key ``capacity``),
after the check and before any Coolify write: two provisions, of any tenants and in any processes,
never both pass the check on the same free room. A claim lasts until the stack is observed deleted
(``delete.finish_delete`` clears it): a suspended stack can be resumed at any moment, a failed one
re-run, so both keep theirs. A stack recorded before claims existed (no ``reserved``) counts with what
its template reserves under the plan it was deployed with, once it has a Coolify service.

Budgets come from ``CFA_CAPACITY`` (per server uuid, or ``default``) times ``CFA_CAPACITY_OVERCOMMIT``
(``shared/capacity.py`` has the arithmetic). A server without a budget has unknown capacity: nothing
is refused there (logged once per process), and while any budget is configured, no new stack is
placed on it. Coolify reports no CPU, memory or disk figures for a server (``GET /servers`` has
none): the budget is the operator's word; what is checked against Coolify is that a budgeted server
exists and is usable (``cfa doctor``, ``cfa capacity``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

from functions.context import Context
from functions.locks import acquire_lock
from functions.operations.coolify_resources import hosting_servers
from functions.records import Stack, Tenant
from shared.capacity import (
    ZERO,
    Amount,
    Candidate,
    Shortfall,
    budget_for,
    capacity_of,
    choose,
    headroom,
    shortfalls,
    total,
)
from shared.catalog import Template
from shared.coolify.models import Server
from shared.errors import AuthError, CapacityError, CfaError, ConfigurationError
from shared.logging import get_logger
from shared.plans import Plan, get_plan
from shared.reservations import reserved
from shared.settings import Settings

log = get_logger()

CAPACITY_LOCK = "capacity"
_LOCAL_LOCK = "*capacity"  # this process's queue in front of it; never a tenant slug
_UNKNOWN_LOGGED: set[str] = set()


# --- the ledger: what every stack claims ------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    stack_id: str
    tenant: str  # the slug when the ledger was read with names, else the record id
    stack: str
    template: str
    server_uuid: str  # "" for a stack whose server was never recorded (counted on every server)
    amount: Amount


async def ledger(ctx: Context, *, names: bool = False) -> tuple[list[Claim], list[str]]:
    """Every claim, and the ``tenant/stack`` of stacks that should claim but cannot be counted (their
    template or plan is gone). One paged read of the stacks; the tenants are read too only for
    ``names`` (else ``Claim.tenant`` is the tenant's record id) or for an old stack without its plan."""
    stacks = await ctx.store.list_all_stacks()
    tenants: dict[str, Tenant] = {}
    if names or any(not s.reserved and s.coolify_service_uuid and not s.plan for s in stacks):
        tenants = {t.id: t for t in await ctx.store.list_tenants()}
    claims, uncounted = [], []
    for stack in stacks:
        tenant = tenants.get(stack.tenant)
        who = tenant.slug if tenant else stack.tenant
        try:
            amount = claimed(ctx, stack, tenant)
        except CfaError:
            uncounted.append(f"{who}/{stack.name}")
            continue
        if amount is not None:
            claims.append(Claim(stack.id, who, stack.name, stack.template, stack.server_uuid, amount))
    return claims, uncounted


def claimed(ctx: Context, stack: Stack, tenant: Tenant | None) -> Amount | None:
    """What ``stack`` claims now (None: nothing). Its recorded claim; else, for a stack recorded before
    claims existed that has a Coolify service, its reservation under the plan it was deployed with."""
    if stack.reserved:
        recorded = stack.reserved
        try:
            return Amount.of(
                float(recorded.get("cpus") or 0),
                int(recorded.get("memory_bytes") or 0),
                int(recorded.get("volume_bytes") or 0),
            )
        except (TypeError, ValueError):
            pass  # not ours to trust: computed below
    if not stack.coolify_service_uuid or stack.status == "deleted":
        return None
    plan = get_plan(stack.plan or (tenant.plan if tenant else ""), ctx.settings)
    return need_of(ctx.catalog.get(stack.template), plan, stack.params)


def need_of(template: Template, plan: Plan, params: dict[str, Any] | None) -> Amount:
    """What a stack of ``template`` with ``params`` claims under ``plan`` (``shared.reservations``)."""
    reservation = reserved(template, plan, params)
    return Amount.of(reservation.cpus, reservation.memory_bytes, reservation.volume_bytes)


def largest_need(template: Template, plan: Plan) -> Amount:
    """The most a stack of ``template`` can claim under ``plan``: every service (optional ones too)."""
    profile = template.profile(plan.name)
    return Amount.of(
        sum(limits.cpus for limits in profile.services.values()),
        sum(limits.memory_bytes for limits in profile.services.values()),
        profile.volume_budget_bytes if template.meta.stateful else 0,
    )


def claim_record(server_uuid: str, need: Amount, plan: str) -> dict[str, Any]:
    """The stack record's fields that hold a claim."""
    fields: dict[str, Any] = {
        "reserved": {
            "cpus": need.cpus,
            "memory_bytes": need.memory,
            "volume_bytes": need.disk,
            "plan": plan,
        }
    }
    if server_uuid:
        fields["server_uuid"] = server_uuid
    return fields


def claims_on(claims: Iterable[Claim], server_uuid: str) -> Amount:
    """What ``claims`` take of a server: the ones placed there, and the ones whose server is unknown."""
    return total([c.amount for c in claims if c.server_uuid in (server_uuid, "")])


def server_capacity(settings: Settings, server_uuid: str) -> Amount | None:
    budget, _ = budget_for(settings.capacity, server_uuid)
    return capacity_of(budget, settings.capacity_overcommit) if budget is not None else None


def _capacity_unknown(settings: Settings, server_uuid: str) -> None:
    key = server_uuid if settings.capacity else ""
    if key in _UNKNOWN_LOGGED:
        return
    _UNKNOWN_LOGGED.add(key)
    if settings.capacity:
        log.info("capacity.server_unbudgeted", server_uuid=server_uuid, advice="add it to CFA_CAPACITY")
    else:
        log.info(
            "capacity.unconfigured",
            advice="set CFA_CAPACITY to refuse what would exceed a server's budget (docs/capacity.md)",
        )


# --- the lock ------------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def capacity_lock(ctx: Context) -> AsyncIterator[None]:
    """Hold the one capacity lock of every process while a claim is checked and recorded. Not in a dry
    run (it records nothing) nor without any budget (nothing is checked, so nothing can race). Held for
    a few PocketBase calls; a busy lock is waited for up to twice ``CFA_LOCK_STALE_SECONDS`` (a dead
    holder is taken over within that)."""
    if ctx.dry_run or not ctx.settings.capacity:
        yield
        return
    async with ctx.local_locks.setdefault(_LOCAL_LOCK, asyncio.Lock()):
        lock = await acquire_lock(
            ctx.pb,
            CAPACITY_LOCK,
            ctx.operation_id,
            what="the capacity ledger",
            advice="another operation is claiming capacity; re-run in a moment (it is safe)",
            operation=f"claim capacity ({ctx.settings.actor})",
            stale_after=ctx.settings.lock_stale_seconds,
            wait=2 * ctx.settings.lock_stale_seconds,
            on_wait=lambda holder, waited: ctx.progress.waiting_for_lock(
                "the capacity ledger", holder, waited
            ),
        )
        async with lock.kept("lost the capacity lock: PocketBase could not be reached to keep it"):
            yield


# --- check and claim: one stack ------------------------------------------------------------------------


@dataclass(frozen=True)
class StackClaim:
    """Where a stack goes and what it claims there; ``fields`` go on its record with the intent."""

    server_uuid: str  # "" only for a stack that has a service on a server never recorded
    server: Server | None  # the server as Coolify listed it, when it was looked up
    need: Amount
    plan: str

    @property
    def fields(self) -> dict[str, Any]:
        return claim_record(self.server_uuid, self.need, self.plan)


async def claim_for_stack(
    ctx: Context,
    tenant: Tenant,
    stack_name: str,
    template: Template,
    plan: Plan,
    params: dict[str, Any],
    existing: Stack | None,
) -> StackClaim:
    """Choose the stack's server and check that its claim fits there. Makes no writes: the caller
    holds :func:`capacity_lock` and records ``fields`` with its intent before releasing it.

    A stack whose service exists stays on its server; one with a recorded server keeps it while Coolify
    lists that server as usable (its kept volumes are there); CFA_COOLIFY_SERVER_UUID pins every other
    placement (ConfigurationError when budgets are configured but not for it); else, with budgets, the
    fitting server with the most headroom (the first listed without). CapacityError (the server, the
    resources short) when it does not fit.
    """
    need = need_of(template, plan, params)
    claims, _ = await ledger(ctx) if ctx.settings.capacity else ([], [])
    own_id = existing.id if existing is not None else None
    others = [c for c in claims if c.stack_id != own_id]
    current = next((c for c in claims if c.stack_id == own_id), None)
    subject = f"{tenant.slug}/{stack_name} ({template.name}, plan {plan.name})"

    async def check(server_uuid: str, name: str) -> None:
        capacity = server_capacity(ctx.settings, server_uuid)
        if capacity is None:
            _capacity_unknown(ctx.settings, server_uuid)
            return
        mine = current.amount if current is not None and current.server_uuid == server_uuid else ZERO
        short = shortfalls(claims_on(others, server_uuid), need, capacity, current=mine)
        if short:
            name = name or (await _server_names(ctx)).get(server_uuid, server_uuid)
            raise _refusal(subject, need, [(server_uuid, name, short)])

    if existing is not None and existing.coolify_service_uuid:
        uuid = existing.server_uuid or await _only_server(ctx)
        if not uuid:
            log.info("capacity.unplaced", advice="its server was never recorded: it is not checked")
        else:
            await check(uuid, "")
        return StackClaim(uuid, None, need, plan.name)
    hosting = await hosting_servers(ctx)
    kept = existing.server_uuid if existing is not None else ""
    chosen = next((s for s in hosting if s.uuid == kept), None)
    if chosen is None and (ctx.settings.coolify_server_uuid or not ctx.settings.capacity):
        chosen = hosting[0]
        if ctx.settings.capacity and server_capacity(ctx.settings, chosen.uuid) is None:
            raise ConfigurationError(
                f"CFA_COOLIFY_SERVER_UUID={chosen.uuid} ({chosen.name}) has no budget in CFA_CAPACITY",
                advice='add its uuid, or a "default" entry, to CFA_CAPACITY (docs/capacity.md)',
            )
    if chosen is not None:
        await check(chosen.uuid, chosen.name)
        return StackClaim(chosen.uuid, chosen, need, plan.name)
    server = _place(ctx, hosting, others, need, subject)
    return StackClaim(server.uuid, server, need, plan.name)


def _place(ctx: Context, hosting: list[Server], others: list[Claim], need: Amount, subject: str) -> Server:
    """The budgeted server with the most headroom for ``need``; CapacityError when none has room."""
    budgeted = []
    for server in hosting:
        capacity = server_capacity(ctx.settings, server.uuid)
        if capacity is not None:
            budgeted.append((server, Candidate(server.uuid, claims_on(others, server.uuid), capacity)))
    if not budgeted:
        names = ", ".join(f"{s.name} ({s.uuid})" for s in hosting)
        raise ConfigurationError(
            f"CFA_CAPACITY has no budget for any usable server: {names}",
            advice='add their uuids, or a "default" entry, to CFA_CAPACITY (cfa doctor lists the servers)',
        )
    best = choose([c for _, c in budgeted], need)
    if best is None:
        closest = sorted(budgeted, key=lambda sc: -headroom(sc[1].others, need, sc[1].capacity))
        short = [(s.uuid, s.name, shortfalls(c.others, need, c.capacity)) for s, c in closest]
        raise _refusal(subject, need, short)
    server = next(s for s, c in budgeted if c is best)
    log.info(
        "capacity.placed",
        server_uuid=server.uuid,
        server=server.name,
        headroom=round(headroom(best.others, need, best.capacity), 3),
        candidates=len(budgeted),
    )
    return server


async def _server_names(ctx: Context) -> dict[str, str]:
    """Server names for a message; empty when Coolify cannot say (a refusal is not held up for it)."""
    try:
        return {s.uuid: s.name for s in await ctx.coolify.list_servers()}
    except CfaError:
        return {}


async def _only_server(ctx: Context) -> str:
    """The server a stack of unknown placement must be on: the pinned one, or the only one listed."""
    if ctx.settings.coolify_server_uuid:
        return ctx.settings.coolify_server_uuid
    try:
        servers = await ctx.coolify.list_servers()
    except (ConfigurationError, AuthError):
        raise
    except CfaError:
        return ""
    return servers[0].uuid if len(servers) == 1 else ""


def _refusal(subject: str, need: Amount, per_server: list[tuple[str, str, list[Shortfall]]]) -> CapacityError:
    """One CapacityError for a claim that fits nowhere: the server that came closest first."""
    first_uuid, first_name, first_short = per_server[0]
    label = f"{first_name} ({first_uuid})" if first_name != first_uuid else first_uuid
    text = "; ".join(s.describe() for s in first_short)
    if len(per_server) == 1:
        message = f"no room on server {label} for {subject}: {text}"
    else:
        message = f"no room on any of the {len(per_server)} servers for {subject} (closest, {label}: {text})"
    details: dict[str, Any] = {
        "server": first_uuid,
        "resource": first_short[0].resource,
        "needed": first_short[0].needed,
        "free": max(first_short[0].free, 0),
        "unit": first_short[0].as_dict()["unit"],
        "claim": {"cpus": need.cpus, "memory_bytes": need.memory, "volume_bytes": need.disk},
        "shortfalls": {uuid: [s.as_dict() for s in short] for uuid, _, short in per_server},
    }
    log.warning("capacity.refused", subject=subject, **{k: v for k, v in details.items() if k != "claim"})
    return CapacityError(message, details=details)


# --- check and claim: a tenant's plan ------------------------------------------------------------------


async def claim_plan(ctx: Context, tenant: Tenant, plan: Plan) -> list[str]:
    """Re-compute the claim of every stack of ``tenant`` that holds one under ``plan``, check that the
    tenant's claims fit on each server, and record them (under :func:`capacity_lock`). CapacityError
    with nothing written when they do not. Returns the stacks whose claim changed.

    A stack that no longer renders keeps its claim (the plan check refuses it first).
    """
    async with capacity_lock(ctx):
        claims, _ = await ledger(ctx)
        stacks = {s.id: s for s in await ctx.store.list_stacks(tenant)}
        mine = [c for c in claims if c.stack_id in stacks]
        others = [c for c in claims if c.stack_id not in stacks]
        new: dict[str, Amount] = {}
        for claim in mine:
            stack = stacks[claim.stack_id]
            try:
                new[claim.stack_id] = need_of(ctx.catalog.get(stack.template), plan, stack.params)
            except CfaError:
                new[claim.stack_id] = claim.amount
        problems = []
        for uuid in sorted({c.server_uuid for c in mine if c.server_uuid}):
            capacity = server_capacity(ctx.settings, uuid)
            if capacity is None:
                _capacity_unknown(ctx.settings, uuid)
                continue
            group = [c for c in mine if c.server_uuid == uuid]
            short = shortfalls(
                claims_on(others, uuid),
                total([new[c.stack_id] for c in group]),
                capacity,
                current=total([c.amount for c in group]),
            )
            if short:
                problems.append((uuid, uuid, short))
        if problems:
            subject = f"tenant {tenant.slug}'s stacks under plan {plan.name}"
            names = await _server_names(ctx)
            named = [(uuid, names.get(uuid, uuid), short) for uuid, _, short in problems]
            raise _refusal(subject, total(list(new.values())), named)
        changed = []
        for claim in mine:
            stack = stacks[claim.stack_id]
            fields = claim_record(claim.server_uuid, new[claim.stack_id], plan.name)
            if stack.reserved != fields["reserved"]:
                await ctx.store.update_stack(stack, **fields)
                changed.append(stack.name)
        if changed:
            log.info("capacity.claimed", plan=plan.name, stacks=changed)
            await ctx.store.audit(
                "capacity.claimed", tenant=tenant.slug, details={"plan": plan.name, "stacks": changed}
            )
        return changed
