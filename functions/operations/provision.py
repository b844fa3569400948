"""Provision (or re-provision) one stack of a tenant: project, service, secrets, envs, start, wait.

Idempotent and crash-safe (see the package docstring). Writes back to PocketBase: the stack record
(params without secrets, desired_state=running, status, uuids, fqdn, compose/env hashes, last_error),
the tenant's project uuid, the stack's secrets (``stack_secrets``) and one audit event per step.
A re-run keeps the stored parameters it is not given; with changed parameters it updates the compose
and envs in place and restarts the service, after showing the change (``changes.py``). The stack is
``provisioning`` from the moment its start is queued until an observation of Coolify settles it
(``settle.py``): ``running``, ``degraded`` or ``failed`` ("started, then exited").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog
from pydantic import BaseModel, ConfigDict, Field

from functions.context import Context
from functions.operations.capacity_claims import StackClaim, capacity_lock, claim_for_stack
from functions.operations.changes import ChangePlan, plan_changes
from functions.operations.common import await_settled, locked, raise_unless, refusals_audited
from functions.operations.coolify_resources import (
    Placement,
    choose_server,
    ensure_project,
    ensure_service,
    placement_on,
)
from functions.operations.digest import env_digest
from functions.operations.settle import TRANSITIONAL, settle
from functions.records import Stack, Tenant
from functions.store import now_iso
from shared.catalog import Template
from shared.coolify.models import EnvItem, ServiceStatus, ServiceUpdate, encode_compose
from shared.errors import CfaError, ConflictError, InvalidInput, TerminalError, blames_stack
from shared.logging import get_logger
from shared.naming import validate_slug, validate_stack_name
from shared.params import ValidatedParams, validate_params
from shared.plans import Plan, check_quota, check_template_allowed, get_plan
from shared.rendering import RenderedStack, loaded_by_compose, render_stack
from shared.secrets import generate

log = get_logger()


class ProvisionRequest(BaseModel):
    """``params`` are merged over the stack's stored parameters: a re-run keeps what it does not give.
    ``confirm``: allow a change that removes a service or a volume (``--yes``). ``start=False``
    brings the compose and variables up to date without starting it or changing its desired state
    (a suspended stack under a new plan)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tenant: str
    template: str
    stack: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    wait: bool = True
    confirm: bool = False
    start: bool = True


class ProvisionResult(BaseModel):
    tenant: str
    stack: str
    template: str
    status: str
    coolify_status: str = ""
    project_uuid: str = ""
    service_uuid: str = ""
    fqdn: str = ""
    changed: bool = True
    plan: ChangePlan | None = None
    last_error: str = ""
    dry_run: bool = False
    dry_run_reason: str = ""
    calls: list[dict[str, Any]] = Field(default_factory=list)
    compose_yaml: str = ""


class _Plan(BaseModel):
    """Everything validation established, handed to the apply phase."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    tenant: Tenant
    template: Template
    plan: Plan
    stack_name: str
    existing: Stack | None
    params: ValidatedParams
    stored_secrets: dict[str, str]
    rendered: RenderedStack
    changes: ChangePlan


async def provision(
    ctx: Context, request: ProvisionRequest, *, show_plan: Callable[[ChangePlan], None] | None = None
) -> ProvisionResult:
    """Bring ``request.tenant``'s stack to running with the requested template and parameters.

    ``show_plan`` is called with what will change, after validation and before any change — and before
    the tenant's lock is waited for, so a person sees the plan at once (the checks run again under the
    lock). Without it (the event functions) everything is checked once, under the lock.
    Writes: see the module docstring. With ``request.wait`` false the stack is left ``provisioning``
    once the start is queued; ``cfa status`` or the status poller settle it from Coolify's status.
    """
    with structlog.contextvars.bound_contextvars(
        operation="provision",
        operation_id=ctx.operation_id,
        dry_run=ctx.dry_run,
        tenant=request.tenant,
        stack=request.stack,
    ):
        async with refusals_audited(ctx, "provision", request.tenant, request.stack):
            slug = validate_slug(request.tenant)
            if show_plan is not None:
                checked = await _validate(ctx, request)
                show_plan(checked.changes)
                _confirmed(checked, request)
        async with locked(ctx, slug, f"provision {slug}/{request.stack or request.template}"):
            # Level-triggered: (again) under the lock, against the records as they are now.
            async with refusals_audited(ctx, "provision", request.tenant, request.stack):
                checked = await _validate(ctx, request)
                _confirmed(checked, request)
            with structlog.contextvars.bound_contextvars(stack=checked.stack_name):
                return await _apply(ctx, checked, wait=request.wait, start=request.start)


def _stored_params(template: Template, existing: Stack | None) -> tuple[dict[str, Any], list[str]]:
    """The existing stack's public parameters that the template still has, and the names it lost."""
    if existing is None or existing.template != template.name:
        return {}, []
    names = {spec.name for spec in template.meta.parameters if not spec.secret}
    stored = existing.params or {}
    return {k: v for k, v in stored.items() if k in names}, sorted(set(stored) - names)


async def _validate(ctx: Context, request: ProvisionRequest) -> _Plan:
    """Every check that can refuse the request. Makes no writes."""
    slug = validate_slug(request.tenant)
    template = ctx.catalog.get(request.template)
    stack_name = validate_stack_name(request.stack or template.meta.default_stack_name)
    store = ctx.store
    tenant = await store.get_tenant(slug)
    if tenant.status == "deleted" or (tenant.status == "suspended" and request.start):
        raise ConflictError(
            f"tenant {slug} is {tenant.status}",
            advice=f"reactivate the tenant first: cfa tenants resume {slug}",
        )
    plan = get_plan(tenant.plan, ctx.settings)
    check_template_allowed(plan, slug, template.name, template.meta.plan_minimum)
    stacks = await store.list_stacks(tenant)
    existing = next((s for s in stacks if s.name == stack_name), None)
    if existing is not None and existing.active and existing.template != template.name:
        raise ConflictError(
            f"stack {slug}/{stack_name} runs template {existing.template}, not {template.name}",
            advice=f"choose another --name, or delete it first: cfa delete {slug}/{stack_name}",
        )
    if existing is not None and existing.status == "deleting":
        raise ConflictError(
            f"stack {slug}/{stack_name} is being deleted (Coolify has not removed its service yet)",
            advice=f"wait until it is deleted (cfa status {slug} shows it), then provision it again",
        )
    if existing is None or not existing.active:
        others = [s for s in stacks if s.active and s.name != stack_name]
        check_quota(plan, slug, len(others), tenant.max_stacks)
    stored_secrets = await store.get_secrets(existing) if existing is not None else {}
    stored, _ = _stored_params(template, existing)
    params = validate_params(template, {**stored, **request.params}, require_secrets=False)
    for spec in template.meta.parameters:
        if (
            spec.secret
            and spec.required
            and spec.env not in params.secret_env
            and spec.env not in stored_secrets
        ):
            raise InvalidInput(f"param {spec.name}", "is required", advice=f"pass --param {spec.name}=…")
    rendered = await loaded_by_compose(
        template, _render(ctx, template, slug, plan, stack_name, params, stored_secrets), ctx.compose_loader
    )
    changes = _changes(
        ctx, template, slug, plan, stack_name, existing, stored, params, stored_secrets, rendered
    )
    return _Plan(
        tenant=tenant,
        template=template,
        plan=plan,
        stack_name=stack_name,
        existing=existing,
        params=params,
        stored_secrets=stored_secrets,
        rendered=rendered,
        changes=changes,
    )


def _confirmed(checked: _Plan, request: ProvisionRequest) -> None:
    """A change that removes a service or a volume needs ``request.confirm``."""
    changes = checked.changes
    if changes.destructive and not request.confirm:
        removed = [f"service {n}" for n in changes.services_removed]
        removed += [f"volume {n}" for n in changes.volumes_removed]
        raise InvalidInput(
            "--yes",
            f"this change removes {', '.join(removed)} from {checked.tenant.slug}/{checked.stack_name}",
            advice="check the plan above; re-run with --yes to confirm",
        )


def _render(
    ctx: Context,
    template: Template,
    slug: str,
    plan: Plan,
    stack_name: str,
    params: ValidatedParams,
    stored_secrets: dict[str, str],
) -> RenderedStack:
    """The render (policy and schema checked; Compose's loader is run by the caller, off the loop)."""
    return render_stack(
        template,
        tenant=slug,
        plan=plan,
        stack=stack_name,
        params=params,
        base_domain=ctx.settings.base_domain,
        router_url=str(ctx.settings.router_url) if ctx.settings.router_url else None,
        secret_values=[*params.secret_env.values(), *stored_secrets.values()],
    )


def _changes(
    ctx: Context,
    template: Template,
    slug: str,
    plan: Plan,
    stack_name: str,
    existing: Stack | None,
    stored: dict[str, Any],
    params: ValidatedParams,
    stored_secrets: dict[str, str],
    rendered: RenderedStack,
) -> ChangePlan:
    if existing is None or existing.template != template.name or not existing.active:
        return plan_changes(
            stack=stack_name,
            existing_params=None,
            new_params=params.public,
            secrets_changed=[],
            dropped_params=[],
            old_compose=None,
            new_compose=rendered.compose,
            compose_changed=True,
            running=False,
        )
    try:
        old = validate_params(template, stored, require_secrets=False)
        old_compose: dict[str, Any] | None = _render(
            ctx, template, slug, plan, stack_name, old, stored_secrets
        ).compose
    except CfaError:
        old_compose = None  # the stored parameters no longer render: services cannot be compared
    names = {spec.env: spec.name for spec in template.meta.parameters if spec.secret and spec.env}
    secrets_changed = [
        names[env] for env, value in params.secret_env.items() if stored_secrets.get(env) != value
    ]
    _, dropped = _stored_params(template, existing)
    return plan_changes(
        stack=stack_name,
        existing_params=stored,
        new_params=params.public,
        secrets_changed=secrets_changed,
        dropped_params=dropped,
        old_compose=old_compose,
        new_compose=rendered.compose,
        compose_changed=existing.compose_sha256 != rendered.sha256,
        running=existing.status in ("running", "degraded"),
    )


async def _apply(ctx: Context, checked: _Plan, *, wait: bool, start: bool) -> ProvisionResult:
    tenant = checked.tenant
    # The capacity check and the claim it makes are recorded with the intent, under the one capacity
    # lock of every process: a refusal changes nothing, and no other claim can slip in between.
    async with capacity_lock(ctx):
        async with refusals_audited(ctx, "provision", tenant.slug, checked.stack_name, only=TerminalError):
            claim = await claim_for_stack(
                ctx,
                tenant,
                checked.stack_name,
                checked.template,
                checked.plan,
                checked.params.public,
                checked.existing,
            )
        stack = await _record_intent(ctx, checked, start=start, claim=claim)
    seen: ServiceStatus | None = None
    try:
        secrets = await _secrets(ctx, checked, stack)
        project = await ensure_project(ctx, tenant)
        tenant = project.tenant
        stack, created = await ensure_service(
            ctx, tenant, stack, project, lambda: _placement(ctx, claim), checked.rendered
        )
        compose_changed = await _sync_compose(ctx, tenant, stack, checked.rendered, created)
        variables = checked.template.service_variables(checked.params.public, secrets)
        env_digest, envs_changed = await _sync_envs(ctx, tenant, stack, variables, created)
        sent = {
            "fqdn": checked.rendered.fqdn or "",
            "compose_sha256": checked.rendered.sha256,
            "env_sha256": env_digest,
            "plan": checked.plan.name,
            "failed_digest": "",
            "last_error": "",
        }
        if not start:  # up to date for its next start; nothing runs now
            stack = await ctx.store.update_stack(stack, **sent)
        else:
            seen = await _start(ctx, tenant, stack, created=created, restart=compose_changed or envs_changed)
            # What Coolify now has is recorded with the transition; only an observation ends it.
            stack = await ctx.store.update_stack(
                stack, status="provisioning", transition_at=now_iso(), **sent
            )
        if not ctx.dry_run and start:
            if seen is not None:  # nothing was queued: what Coolify just reported may settle it
                stack = await settle(ctx, tenant, stack, seen, elapsed=0.0)
            if wait and stack.status in TRANSITIONAL:
                stack = await await_settled(ctx, tenant, stack)
    except CfaError as err:
        await _record_failure(ctx, tenant, stack, err)
        raise
    log.info("provision.finished", status=stack.status, service_uuid=stack.coolify_service_uuid)
    result = ProvisionResult(
        tenant=tenant.slug,
        stack=stack.name,
        template=stack.template,
        status=stack.status,
        coolify_status=stack.coolify_status,
        project_uuid=tenant.coolify_project_uuid,
        service_uuid=stack.coolify_service_uuid,
        fqdn=stack.fqdn,
        changed=checked.changes.changed,
        plan=checked.changes,
        last_error=stack.last_error,
        dry_run=ctx.dry_run,
        dry_run_reason=ctx.dry_run_reason,
        calls=[call.masked() for call in ctx.recorder.calls] if ctx.recorder else [],
        compose_yaml=checked.rendered.compose_yaml,
    )
    if not ctx.dry_run and start and stack.status not in TRANSITIONAL:
        raise_unless(
            stack, "running", retry=f"re-running `cfa provision` keeps waiting; cfa status {tenant.slug}"
        )
    return result


async def _placement(ctx: Context, claim: StackClaim) -> Placement:
    """Where a service that must be created goes: the claimed server."""
    if claim.server is not None:
        return await placement_on(ctx, claim.server)
    if claim.server_uuid:
        return await placement_on(ctx, await ctx.coolify.get_server(claim.server_uuid))
    return await choose_server(ctx)


async def _record_intent(ctx: Context, checked: _Plan, *, start: bool, claim: StackClaim) -> Stack:
    """Create or update the stack record (desired_state=running, its capacity claim) before touching
    Coolify."""
    store, existing = ctx.store, checked.existing
    fields: dict[str, Any] = {
        "template": checked.template.name,
        "params": checked.params.public,
        **claim.fields,
    }
    if start or existing is None:
        fields["desired_state"] = "running"
    if existing is None:
        # A stack no earlier run recorded cannot have a service yet: its creation intent starts now.
        stack = await store.create_stack(
            {
                "tenant": checked.tenant.id,
                "name": checked.stack_name,
                "status": "pending",
                "service_create_pending_at": now_iso(),
                **fields,
            }
        )
    else:
        # kept_volumes stay: they name the data a re-provisioned stack may want back (cfa volumes).
        reset = {"delete_volumes": False} if not existing.active else {}
        stack = await store.update_stack(existing, **fields, **reset)
    await store.audit(
        "provision.stack_recorded",
        tenant=checked.tenant.slug,
        stack=stack.name,
        details={
            "template": checked.template.name,
            "params": checked.params.public,
            "new": existing is None,
            "changes": checked.changes.lines(),
            **claim.fields,
        },
    )
    return stack


async def _secrets(ctx: Context, checked: _Plan, stack: Stack) -> dict[str, str]:
    """Stored secrets, plus any the template needs that do not exist yet, plus secret params given now.

    Generated secrets are created once and kept (re-provisioning must not rotate them); they are
    stored before Coolify sees them, so a crash can never leave Coolify holding a value we lost.
    """
    declared = {spec.env for spec in checked.template.meta.parameters if spec.env} | {
        s.env for s in checked.template.meta.secrets
    }
    values = {k: v for k, v in checked.stored_secrets.items() if k in declared}
    generated = []
    for spec in checked.template.meta.secrets:
        if spec.env not in values:
            values[spec.env] = generate(spec.kind, spec.length)
            generated.append(spec.env)
    values.update(checked.params.secret_env)
    if values != checked.stored_secrets:
        await ctx.store.put_secrets(stack, values, exists=bool(checked.stored_secrets))
        await ctx.store.audit(
            "provision.secrets_stored",
            tenant=checked.tenant.slug,
            stack=stack.name,
            details={"keys": sorted(values), "generated": generated},
        )
    return values


async def _sync_compose(
    ctx: Context, tenant: Tenant, stack: Stack, rendered: RenderedStack, created: bool
) -> bool:
    """Send the compose again when it differs from what Coolify last got from us (drift, new params)."""
    if created or stack.compose_sha256 == rendered.sha256:
        return False
    await ctx.coolify.update_service(
        stack.coolify_service_uuid,
        ServiceUpdate(docker_compose_raw=encode_compose(rendered.compose_yaml), urls=rendered.urls or None),
    )
    log.info("provision.compose_updated", service_uuid=stack.coolify_service_uuid)
    await ctx.store.audit(
        "provision.compose_updated",
        tenant=tenant.slug,
        stack=stack.name,
        details={"compose_sha256": rendered.sha256},
    )
    return True


async def _sync_envs(
    ctx: Context, tenant: Tenant, stack: Stack, values: dict[str, str], created: bool
) -> tuple[str, bool]:
    """Upsert the stack's secret variables when they changed (they apply at the next start).

    Returns (digest of the values, whether a running service must restart to see them).
    """
    digest = env_digest(values)
    if not values or (not created and stack.env_sha256 == digest):
        return digest, False
    await ctx.coolify.upsert_service_envs(
        stack.coolify_service_uuid, [EnvItem(key=key, value=value) for key, value in sorted(values.items())]
    )
    log.info("provision.envs_set", keys=sorted(values))
    await ctx.store.audit(
        "provision.envs_set", tenant=tenant.slug, stack=stack.name, details={"keys": sorted(values)}
    )
    return digest, not created


async def _start(
    ctx: Context, tenant: Tenant, stack: Stack, *, created: bool, restart: bool
) -> ServiceStatus | None:
    """Start a stopped service; restart a running one whose compose or envs just changed.

    Returns what Coolify reported when nothing had to be queued (an observation to settle on), or
    None once a start/restart is queued.
    """
    if created:
        status = ServiceStatus.parse("exited")  # a new service is never running yet
    else:
        status = (await ctx.coolify.get_service(stack.coolify_service_uuid)).parsed_status
    if status.running or status.state in ("starting", "restarting", "degraded"):
        if not restart:
            return status
        await ctx.coolify.restart_service(stack.coolify_service_uuid)
        action = "provision.restarted"
    else:
        await ctx.coolify.start_service(stack.coolify_service_uuid)
        action = "provision.started"
    log.info(action, service_uuid=stack.coolify_service_uuid, was=status.raw)
    await ctx.store.audit(action, tenant=tenant.slug, stack=stack.name, details={"was": status.raw})
    return None


async def _record_failure(ctx: Context, tenant: Tenant, stack: Stack, err: CfaError) -> None:
    """Keep the error on the stack and in the audit trail. Only an error about the stack itself marks
    it failed: a retryable or configuration error leaves the status as observed."""
    log.warning("provision.failed", error=err.kind, reason=err.message, retryable=err.retryable)
    fields: dict[str, Any] = {"last_error": err.one_line()[:2000]}
    if err.details.get("recorded"):
        return  # settle recorded and audited it already
    if blames_stack(err):
        fields["status"] = "failed"
        fields["transition_at"] = ""
    try:
        await ctx.store.update_stack(stack, **fields)
        await ctx.store.audit(
            "provision.failed",
            outcome="failed",
            tenant=tenant.slug,
            stack=stack.name,
            details={"error": err.kind, "reason": err.message, "retryable": err.retryable},
        )
    except CfaError as store_err:  # PocketBase itself may be what failed
        log.error("provision.failure_not_recorded", error=store_err.kind, reason=store_err.message)
