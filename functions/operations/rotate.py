"""Rotate a stack's secrets: new values, stored, pushed to Coolify, made live by a restart.

By default every generated secret of the stack whose template marks it ``routine`` gets a new value;
``only`` names generated secrets (``explicit`` ones must be named); ``params`` replaces secret
parameters the tenant supplies (a Telegram token, a Router key), validated like ``provision``'s. A
non-secret or unknown name is refused and nothing changes. Secrets other variables are derived from
(``secret_aliases``: Open WebUI's ``OPENAI_API_KEY`` from the Router key or LiteLLM's master key)
take the derived ones along: those are computed from the stored source at every push.

Order, and why a crash at any step converges:

1. **Intent** — ``rotation_pending`` on the stack: for each rotated variable a digest of the value it
   replaces (bound to the stack and variable; no value), plus the rotated names.
2. **Store** — one write of the stack's ``stack_secrets`` record with the new values.
3. **Coolify** — every secret variable of the stack, derived ones included, in one env bulk call
   computed from what was stored; then the restart is queued (it rewrites the ``.env`` and recreates
   the containers, so the old values stop being served).
4. **Transition** — one write: ``env_sha256`` of what Coolify now has, status ``rotating`` (the marker
   stays, marked pushed, to name the secrets in ``rotate.completed``). Only an observation of Coolify
   ends it (``settle``), which clears the marker.

A marker is finished by whoever finds it: a re-run of ``rotate`` (which adds its own selection), or
the event functions (``finish_rotation``, for an unpushed marker, from the stack's record change or the
reconciler). A variable whose stored value no longer matches its digest was stored by the interrupted
run: it is pushed as stored, never generated again. One that still matches was never stored: a
generated secret is generated now; a tenant-supplied one not given again is reported as not rotated
(its value died with the run). Finishing always pushes what is stored and restarts, so one rotation
happens, no derived pair is ever half-rotated, and Coolify is never left with old values the store
replaced. ``env_sha256`` always describes what Coolify was given, so digest-based drift detection
neither undoes nor repeats the rotation. A re-run while the stack is ``rotating`` (``--no-wait``, or a
run killed after its restart) is the same: it pushes again, restarts again and waits for that.

A suspended stack (or one of a suspended tenant) gets the new values stored and pushed but is not
started: they apply at its next start. A stack with no Coolify service yet gets them stored; its first
start pushes them. A stack being deleted, or with other work queued in Coolify, is refused.

Audit events: ``rotate.requested``, ``rotate.secrets_stored``, ``rotate.envs_set``, ``rotate.restarted``,
then ``rotate.completed`` or ``rotate.failed`` — with the names of the secrets, never their values.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import Field

from functions.context import Context
from functions.operations.common import await_settled, raise_unless
from functions.operations.digest import env_digest
from functions.operations.lifecycle import StackResult, Target, run_on_stack
from functions.operations.settle import TRANSITIONAL
from functions.records import Stack
from functions.store import now_iso
from shared.catalog import GeneratedSecret, Template
from shared.coolify.models import EnvItem
from shared.errors import ConflictError, InvalidInput
from shared.logging import get_logger
from shared.naming import did_you_mean
from shared.params import validate_params
from shared.secrets import generate

log = get_logger()


class RotateResult(StackResult):
    """``rotated``: the secrets that got new values (generated secrets by variable, tenant-supplied ones
    by parameter name); ``derived``: variables that follow them; ``finished``: those an interrupted run
    had already stored; ``not_rotated``: secret parameters of an interrupted run whose new value was
    never stored (pass them again); ``restarted``: whether a restart was queued; ``notes``: what the
    rotation means for the stack's users, and why something was not rotated or started."""

    rotated: list[str] = Field(default_factory=list)
    derived: list[str] = Field(default_factory=list)
    finished: list[str] = Field(default_factory=list)
    not_rotated: list[str] = Field(default_factory=list)
    restarted: bool = False
    notes: list[str] = Field(default_factory=list)


@dataclass(frozen=True)
class RotateRequest:
    params: Mapping[str, Any] = field(default_factory=dict)
    only: tuple[str, ...] = ()
    finish_only: bool = False  # the event functions: finish a pending rotation, start none


@dataclass
class _Plan:
    template: Template
    public: dict[str, Any]
    stored: dict[str, str]
    values: dict[str, str]  # every secret of the stack after the rotation
    marker: dict[str, str]  # variable -> digest of the value it replaces
    generated: list[str]  # variables generated by this run
    given: list[str]  # variables of secret parameters given to this run
    finished: list[str]  # variables an interrupted run stored, pushed as stored
    lost: list[str]  # parameter names an interrupted run never stored
    derived: list[str]
    notes: list[str]
    restarted: bool = False

    @property
    def rotated(self) -> list[str]:
        return sorted({*self.generated, *self.given, *self.finished})

    def names(self, envs: list[str]) -> list[str]:
        return sorted(name_of(self.template, env) for env in envs)


async def rotate(
    ctx: Context,
    tenant: str,
    stack: str,
    *,
    params: Mapping[str, Any] | None = None,
    only: list[str] | None = None,
    wait: bool = True,
) -> RotateResult:
    """Rotate ``tenant/stack``'s secrets (see the module docstring); the admin page's Rotate button and
    ``cfa rotate`` call this. With ``wait`` it returns once Coolify reports the restarted stack running
    (or raises what it reported instead); without, the stack is left ``rotating`` for ``cfa status`` or
    the status poller to settle. In a dry run nothing is stored or sent; the result names what would
    rotate and lists the Coolify calls (values masked)."""
    request = RotateRequest(params=dict(params or {}), only=tuple(only or ()))
    return await _run(ctx, tenant, stack, request, wait=wait)


async def finish_rotation(ctx: Context, tenant: str, stack: str, *, wait: bool = False) -> RotateResult:
    """Finish the stack's pending rotation (a run that stopped before Coolify got its values): push what
    is stored, restart, generate what was never stored. Nothing to do without one, or while the stack
    has work queued in Coolify or is being deleted. The event functions call this when they find an
    unpushed ``rotation_pending``."""
    return await _run(ctx, tenant, stack, RotateRequest(finish_only=True), wait=wait)


async def _run(ctx: Context, tenant: str, stack: str, request: RotateRequest, *, wait: bool) -> RotateResult:
    plans: list[_Plan | None] = []

    async def check(target: Target) -> None:
        if request.finish_only and _busy(target):
            plans.append(None)  # what is queued or being deleted is not this call's to finish
            return
        _refuse_state(target)
        plans.append(await _plan(ctx, target, request))

    async def apply(target: Target) -> Target:
        plan = plans[-1]  # made under the lock, against the records as they are now
        return target if plan is None else await _apply(ctx, target, plan, wait=wait)

    base = await run_on_stack(ctx, "rotate", tenant, stack, apply, check=check)
    plan = plans[-1] if plans else None
    if plan is None:
        return RotateResult(**base.model_dump())
    return RotateResult(
        **base.model_dump(),
        rotated=plan.names(plan.rotated),
        derived=plan.derived,
        finished=plan.names(plan.finished),
        not_rotated=plan.lost,
        restarted=plan.restarted,
        notes=plan.notes,
    )


def _busy(target: Target) -> bool:
    stack = target.stack
    return (
        stack.status in TRANSITIONAL or stack.desired_state == "deleted" or target.tenant.status == "deleted"
    )


def _refuse_state(target: Target) -> None:
    tenant, stack = target.tenant, target.stack
    ref = f"{tenant.slug}/{stack.name}"
    if stack.desired_state == "deleted" or tenant.status == "deleted":
        raise ConflictError(f"stack {ref} is being deleted", advice="nothing to rotate")
    if stack.status in TRANSITIONAL and stack.status != "rotating":
        raise ConflictError(
            f"stack {ref} has work queued in Coolify (it is {stack.status})",
            advice=f"wait until it has settled (cfa status {tenant.slug} shows it), then re-run",
        )


def fingerprint(stack: Stack, env: str, value: str) -> str:
    """What ``rotation_pending`` keeps of a value it replaces: a digest bound to the stack and variable."""
    return hashlib.sha256(f"{stack.id}\0{env}\0{value}".encode()).hexdigest()


def name_of(template: Template, env: str) -> str:
    """How a person names a secret: a parameter by its name, a generated secret by its variable."""
    spec = next((p for p in template.meta.parameters if p.secret and p.env == env), None)
    return spec.name if spec is not None else env


def _pending(stack: Stack, template: Template) -> dict[str, str]:
    """Variable -> digest of the value it replaces, of the stack's pending rotation."""
    raw = (stack.rotation_pending or {}).get("secrets")
    known = {s.env for s in template.meta.secrets} | {p.env for p in template.meta.parameters if p.secret}
    return {str(k): str(v) for k, v in raw.items() if k in known} if isinstance(raw, dict) else {}


async def _plan(ctx: Context, target: Target, request: RotateRequest) -> _Plan | None:
    """Everything that can refuse the request, and the new values. Writes nothing (values generated
    here are only registered for redaction). None: nothing to do (``finish_only`` without a marker)."""
    stack = target.stack
    template = ctx.catalog.get(stack.template)
    pending = _pending(stack, template)
    if request.finish_only and not pending:
        return None
    _check_names(template, target, request)
    checked = validate_params(template, {**(stack.params or {}), **request.params}, require_secrets=False)
    public = checked.public
    given = {
        p.env: checked.secret_env[p.env]
        for p in template.meta.parameters
        if p.secret and p.env and p.name in request.params
    }
    wanted = _wanted(template, target, request, has_pending=bool(pending))
    stored = await ctx.store.get_secrets(stack)
    stored_by_earlier = {
        env for env, was in pending.items() if fingerprint(stack, env, stored.get(env, "")) != was
    }
    for env, value in given.items():
        if value == stored.get(env) and env not in stored_by_earlier:
            name = name_of(template, env)
            raise InvalidInput(
                f"param {name}", "is the value the stack already has", advice=f"pass the new {name}"
            )
    specs = {s.env: s for s in template.meta.secrets}
    values, generated, finished, lost = dict(stored), [], [], []
    for env in sorted(set(pending) - set(given)):
        if env in stored_by_earlier:
            finished.append(env)
        elif env in specs:
            values[env] = _new(specs[env])
            generated.append(env)
        else:
            lost.append(name_of(template, env))
    for env in wanted:
        if env not in stored_by_earlier and env not in generated:
            values[env] = _new(specs[env])
            generated.append(env)
    values.update(given)
    before = template.service_variables(public, stored)
    after = template.service_variables(public, values)
    derived = sorted(k for k in after if k not in values and after[k] != before.get(k))
    rotated = {*generated, *given, *finished}
    marker = {env: pending.get(env) or fingerprint(stack, env, stored.get(env, "")) for env in rotated}
    notes = [
        f"{env}: {specs[env].rotation_note}"
        for env in sorted(rotated)
        if env in specs and specs[env].rotation_note
    ]
    if not request.params and not request.only and not request.finish_only:
        for spec in template.meta.secrets:
            if spec.rotation != "routine":
                notes.append(f"not rotated: {spec.env} ({spec.rotation_note})")
    for name in lost:
        notes.append(
            f"not rotated: {name} — an interrupted rotation never stored its new value; pass it again: "
            f"cfa rotate {target.tenant.slug}/{stack.name} --param {name}=@FILE"
        )
    return _Plan(
        template=template,
        public=public,
        stored=stored,
        values=values,
        marker=marker,
        generated=sorted(generated),
        given=sorted(given),
        finished=finished,
        lost=lost,
        derived=derived,
        notes=notes,
    )


def _new(spec: GeneratedSecret) -> str:
    return generate(spec.kind, spec.length)


def _check_names(template: Template, target: Target, request: RotateRequest) -> None:
    """Every ``params`` name must be a secret parameter of the template."""
    secret_params = [p for p in template.meta.parameters if p.secret]
    for key in request.params:
        spec = template.param(key)
        if spec is None:
            hint = did_you_mean(key, [p.name for p in secret_params])
            raise InvalidInput(
                f"param {key}",
                f"template {template.name} has no parameter {key!r}",
                advice=f"{hint}its secret parameters: {', '.join(p.name for p in secret_params) or 'none'}",
            )
        if not spec.secret:
            raise InvalidInput(
                f"param {key}",
                "is not a secret: cfa rotate changes secrets only",
                advice=f"change it with cfa provision {target.tenant.slug} {template.name} "
                f"--name {target.stack.name} --param {key}=…",
            )


def _wanted(template: Template, target: Target, request: RotateRequest, *, has_pending: bool) -> list[str]:
    """The generated secrets the request rotates (their variables)."""
    ref = f"{target.tenant.slug}/{target.stack.name}"
    wanted = [_only(template, name, ref) for name in request.only]
    if not request.params and not request.only and not request.finish_only:
        wanted = [s.env for s in template.meta.secrets if s.rotation == "routine"]
        if not wanted and not has_pending:
            params = ", ".join(p.name for p in template.meta.parameters if p.secret)
            raise InvalidInput(
                ref,
                f"template {template.name} generates no secret that can be rotated; its secrets are "
                f"supplied by the tenant ({params or 'none'})",
                advice=f"pass the new value: cfa rotate {ref} --param NAME=@FILE"
                if params
                else "nothing to rotate",
            )
    return sorted(set(wanted))


def _only(template: Template, name: str, ref: str) -> str:
    """The generated secret ``--only NAME`` means (its variable; case does not matter)."""
    secrets = {s.env: s for s in template.meta.secrets}
    env = name.upper()
    if env in secrets:
        spec = secrets[env]
        if spec.rotation == "unsupported":
            raise InvalidInput(f"--only {name}", f"cannot be rotated: {spec.rotation_note}")
        return env
    param = next((p for p in template.meta.parameters if p.secret and name in (p.name, p.env)), None)
    if param is not None:
        raise InvalidInput(
            f"--only {name}",
            f"{param.name} is supplied by the tenant, not generated",
            advice=f"pass its new value: cfa rotate {ref} --param {param.name}=@FILE",
        )
    sources = sorted({a.source for a in template.meta.secret_aliases if a.env == env})
    if sources:
        raise InvalidInput(
            f"--only {name}",
            f"is derived from {' or '.join(sources)} and follows it",
            advice="rotate the secret it is derived from",
        )
    hint = did_you_mean(env, list(secrets))
    raise InvalidInput(
        f"--only {name}",
        f"template {template.name} generates no secret {name!r}",
        advice=f"{hint}its generated secrets: {', '.join(secrets) or 'none'}",
    )


async def _apply(ctx: Context, target: Target, plan: _Plan, *, wait: bool) -> Target:
    store, tenant, stack = ctx.store, target.tenant, target.stack
    names = plan.names(plan.rotated)
    if not plan.rotated:  # a pending rotation of secrets that were never stored: nothing left to do
        stack = await store.update_stack(stack, rotation_pending=None)
        await store.audit(
            "rotate.failed",
            outcome="failed",
            tenant=tenant.slug,
            stack=stack.name,
            details={"not_rotated": plan.lost, "reason": "the new values were never stored"},
        )
        return Target(tenant, stack)
    marker: dict[str, Any] = {
        "secrets": plan.marker,
        "names": names,
        "at": now_iso(),
        "operation_id": ctx.operation_id,
    }
    stack = await store.update_stack(stack, rotation_pending=marker)
    log.info("rotate.requested", secrets=names, derived=plan.derived, finishing=plan.names(plan.finished))
    await store.audit(
        "rotate.requested",
        tenant=tenant.slug,
        stack=stack.name,
        details={
            "secrets": names,
            "derived": plan.derived,
            "finishing": plan.names(plan.finished),
            "not_rotated": plan.lost,
        },
    )
    if plan.values != plan.stored:
        await store.put_secrets(stack, plan.values, exists=bool(plan.stored))
        await store.audit(
            "rotate.secrets_stored",
            tenant=tenant.slug,
            stack=stack.name,
            details={"secrets": plan.names([*plan.generated, *plan.given])},
        )
    uuid = stack.coolify_service_uuid
    fields: dict[str, Any] = {"failed_digest": ""}
    if uuid:
        variables = plan.template.service_variables(plan.public, plan.values)
        await ctx.coolify.upsert_service_envs(
            uuid, [EnvItem(key=key, value=value) for key, value in sorted(variables.items())]
        )
        log.info("rotate.envs_set", service_uuid=uuid, keys=sorted(variables))
        await store.audit(
            "rotate.envs_set", tenant=tenant.slug, stack=stack.name, details={"keys": sorted(variables)}
        )
        fields["env_sha256"] = env_digest(variables)
    why_not = _why_not_restarted(target)
    if why_not:
        stack = await store.update_stack(stack, rotation_pending=None, **fields)
        plan.notes.append(why_not)
        log.info("rotate.completed", restarted=False, reason=why_not)
        await store.audit(
            "rotate.completed",
            tenant=tenant.slug,
            stack=stack.name,
            details={"secrets": names, "derived": plan.derived, "restarted": False, "note": why_not},
        )
        return Target(tenant, stack)
    await ctx.coolify.restart_service(uuid)
    plan.restarted = True
    log.info("rotate.restarted", service_uuid=uuid)
    await store.audit("rotate.restarted", tenant=tenant.slug, stack=stack.name, details={"secrets": names})
    stack = await store.update_stack(
        stack,
        status="rotating",
        transition_at=now_iso(),
        last_error="",
        rotation_pending={**marker, "pushed": True},
        **fields,
    )
    if ctx.dry_run or not wait:
        return Target(tenant, stack)
    stack = await await_settled(ctx, tenant, stack)
    raise_unless(
        stack,
        "running",
        retry=f"check the service in Coolify; cfa status {tenant.slug} shows when it has settled",
    )
    return Target(tenant, stack)


def _why_not_restarted(target: Target) -> str:
    """Why the new values are not made live now ("" when the stack is restarted)."""
    tenant, stack = target.tenant, target.stack
    if not stack.coolify_service_uuid:
        return "the stack has no Coolify service yet: its first start gives it the new values"
    if (tenant.status or "active") != "active":
        return f"tenant {tenant.slug} is {tenant.status}: the new values apply when it is resumed"
    if stack.desired_state != "running":
        return (
            f"the stack is {stack.desired_state}, so it was not started: the new values apply when it is "
            f"resumed (cfa resume {tenant.slug}/{stack.name})"
        )
    return ""
