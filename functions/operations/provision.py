"""Provision (or re-provision) one stack of a tenant: project, service, secrets, envs, start, wait.

Idempotent and crash-safe (see the package docstring). Writes back to PocketBase: the stack record
(params without secrets, desired_state=running, status, uuids, fqdn, compose/env hashes, last_error),
the tenant's project uuid, the stack's secrets (``stack_secrets``) and one audit event per step.
A re-run with changed parameters updates the compose and envs in place and restarts the service.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import structlog
from pydantic import BaseModel, ConfigDict, Field

from functions.context import Context
from functions.operations.common import locked, refusals_audited, wait_for_service
from functions.operations.coolify_resources import choose_server, ensure_project, ensure_service
from functions.records import Stack, Tenant
from functions.store import now_iso
from shared.catalog import Template
from shared.coolify.models import EnvItem, ServiceStatus, ServiceUpdate, encode_compose
from shared.errors import CfaError, ConflictError, InvalidInput, NotConvergedError
from shared.logging import get_logger
from shared.naming import validate_slug, validate_stack_name
from shared.params import ValidatedParams, validate_params
from shared.plans import Plan, check_quota, check_template_allowed, get_plan
from shared.rendering import RenderedStack, render_stack
from shared.secrets import generate

log = get_logger()


class ProvisionRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    tenant: str
    template: str
    stack: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    wait: bool = True


class ProvisionResult(BaseModel):
    tenant: str
    stack: str
    template: str
    status: str
    coolify_status: str = ""
    project_uuid: str = ""
    service_uuid: str = ""
    fqdn: str = ""
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


async def provision(ctx: Context, request: ProvisionRequest) -> ProvisionResult:
    """Bring ``request.tenant``'s stack to running with the requested template and parameters."""
    with structlog.contextvars.bound_contextvars(
        operation="provision",
        operation_id=ctx.operation_id,
        dry_run=ctx.dry_run,
        tenant=request.tenant,
        stack=request.stack,
    ):
        async with refusals_audited(ctx, "provision", request.tenant, request.stack):
            checked = await _validate(ctx, request)
        with structlog.contextvars.bound_contextvars(stack=checked.stack_name):
            async with locked(ctx, checked.tenant.slug):
                return await _apply(ctx, checked, wait=request.wait)


async def _validate(ctx: Context, request: ProvisionRequest) -> _Plan:
    """Every check that can refuse the request. Makes no writes."""
    slug = validate_slug(request.tenant)
    template = ctx.catalog.get(request.template)
    stack_name = validate_stack_name(request.stack or template.meta.default_stack_name)
    store = ctx.store
    tenant = await store.get_tenant(slug)
    if tenant.status in ("suspended", "deleted"):
        raise ConflictError(f"tenant {slug} is {tenant.status}", advice="reactivate the tenant first")
    plan = get_plan(tenant.plan, ctx.settings)
    check_template_allowed(plan, slug, template.name, template.meta.plan_minimum)
    stacks = await store.list_stacks(tenant)
    existing = next((s for s in stacks if s.name == stack_name), None)
    if existing is not None and existing.active and existing.template != template.name:
        raise ConflictError(
            f"stack {slug}/{stack_name} runs template {existing.template}, not {template.name}",
            advice=f"choose another --name, or delete it first: cfa delete {slug}/{stack_name}",
        )
    if existing is None or not existing.active:
        others = [s for s in stacks if s.active and s.name != stack_name]
        check_quota(plan, slug, len(others), tenant.max_stacks)
    stored_secrets = await store.get_secrets(existing) if existing is not None else {}
    params = validate_params(template, request.params, require_secrets=False)
    for spec in template.meta.parameters:
        if (
            spec.secret
            and spec.required
            and spec.env not in params.secret_env
            and spec.env not in stored_secrets
        ):
            raise InvalidInput(f"param {spec.name}", "is required", advice=f"pass --param {spec.name}=…")
    rendered = render_stack(
        template,
        tenant=slug,
        plan=plan,
        stack=stack_name,
        params=params,
        base_domain=ctx.settings.base_domain,
        router_url=str(ctx.settings.router_url) if ctx.settings.router_url else None,
        secret_values=[*params.secret_env.values(), *stored_secrets.values()],
        loader=ctx.compose_loader,
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
    )


async def _apply(ctx: Context, checked: _Plan, *, wait: bool) -> ProvisionResult:
    store = ctx.store
    tenant = checked.tenant
    stack = await _record_intent(ctx, checked)
    try:
        secrets = await _secrets(ctx, checked, stack)
        project = await ensure_project(ctx, tenant)
        tenant = project.tenant
        stack, created = await ensure_service(
            ctx, tenant, stack, project, lambda: choose_server(ctx), checked.rendered
        )
        compose_changed = await _sync_compose(ctx, tenant, stack, checked.rendered, created)
        env_digest, envs_changed = await _sync_envs(ctx, tenant, stack, secrets, created)
        await _start(ctx, tenant, stack, created=created, restart=compose_changed or envs_changed)
        # The hashes are stored with the outcome: if we stop before, the next run re-sends (harmless).
        stack = await _converge(
            ctx,
            tenant,
            stack,
            wait=wait,
            fields={
                "fqdn": checked.rendered.fqdn or "",
                "compose_sha256": checked.rendered.sha256,
                "env_sha256": env_digest,
            },
        )
    except CfaError as err:
        await _record_failure(ctx, tenant, stack, err)
        raise
    await store.audit(
        "provision.completed",
        tenant=tenant.slug,
        stack=stack.name,
        details={"status": stack.status, "service_uuid": stack.coolify_service_uuid, "fqdn": stack.fqdn},
    )
    log.info("provision.completed", status=stack.status, service_uuid=stack.coolify_service_uuid)
    return ProvisionResult(
        tenant=tenant.slug,
        stack=stack.name,
        template=stack.template,
        status=stack.status,
        coolify_status=stack.coolify_status,
        project_uuid=tenant.coolify_project_uuid,
        service_uuid=stack.coolify_service_uuid,
        fqdn=stack.fqdn,
        dry_run=ctx.dry_run,
        dry_run_reason=ctx.dry_run_reason,
        calls=[call.masked() for call in ctx.recorder.calls] if ctx.recorder else [],
        compose_yaml=checked.rendered.compose_yaml,
    )


async def _record_intent(ctx: Context, checked: _Plan) -> Stack:
    """Create or update the stack record (desired_state=running) before touching Coolify."""
    store, existing = ctx.store, checked.existing
    fields = {
        "template": checked.template.name,
        "params": checked.params.public,
        "desired_state": "running",
        "last_error": "",
    }
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
        status = existing.status if existing.status in ("running", "degraded") else "provisioning"
        stack = await store.update_stack(existing, status=status, **fields)
    await store.audit(
        "provision.stack_recorded",
        tenant=checked.tenant.slug,
        stack=stack.name,
        details={"template": checked.template.name, "params": checked.params.public, "new": existing is None},
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


def _env_digest(values: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()


async def _sync_envs(
    ctx: Context, tenant: Tenant, stack: Stack, values: dict[str, str], created: bool
) -> tuple[str, bool]:
    """Upsert the stack's secret variables when they changed (they apply at the next start).

    Returns (digest of the values, whether a running service must restart to see them).
    """
    digest = _env_digest(values)
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


async def _start(ctx: Context, tenant: Tenant, stack: Stack, *, created: bool, restart: bool) -> None:
    """Start a stopped service; restart a running one whose compose or envs just changed."""
    if created:
        status = ServiceStatus.parse("exited")  # a new service is never running yet
    else:
        status = (await ctx.coolify.get_service(stack.coolify_service_uuid)).parsed_status
    if status.running or status.state in ("starting", "restarting", "degraded"):
        if not restart:
            return
        await ctx.coolify.restart_service(stack.coolify_service_uuid)
        action = "provision.restarted"
    else:
        await ctx.coolify.start_service(stack.coolify_service_uuid)
        action = "provision.started"
    log.info(action, service_uuid=stack.coolify_service_uuid, was=status.raw)
    await ctx.store.audit(action, tenant=tenant.slug, stack=stack.name, details={"was": status.raw})


async def _converge(
    ctx: Context, tenant: Tenant, stack: Stack, *, wait: bool, fields: dict[str, Any]
) -> Stack:
    """Wait for running:healthy (unless told not to) and record the outcome, plus ``fields``, on the stack."""
    fields = {**fields, "last_error": ""}
    if ctx.dry_run or not wait or ctx.settings.provision_wait_seconds == 0:
        return await ctx.store.update_stack(stack, status="provisioning", **fields)
    try:
        status = await wait_for_service(
            ctx,
            stack.coolify_service_uuid,
            lambda current: current.healthy,
            what=f"{tenant.slug}/{stack.name} becoming running:healthy",
            advice=f"check the service in Coolify (cfa status {tenant.slug}); re-running keeps waiting",
        )
    except NotConvergedError as err:
        last = ServiceStatus.parse(err.details.get("last_status"))
        await ctx.store.update_stack(
            stack, status="degraded" if last.running else "provisioning", coolify_status=last.raw
        )
        raise
    return await ctx.store.update_stack(stack, status="running", coolify_status=status.raw, **fields)


async def _record_failure(ctx: Context, tenant: Tenant, stack: Stack, err: CfaError) -> None:
    """Keep the error on the stack and in the audit trail. A retryable error leaves the status as is."""
    log.warning("provision.failed", error=err.kind, reason=err.message, retryable=err.retryable)
    fields: dict[str, Any] = {"last_error": err.one_line()[:2000]}
    if not err.retryable:
        fields["status"] = "failed"
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
