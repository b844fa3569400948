"""Digests of a stack's configuration: what it should be (rendered now from its record) and what
Coolify was last given (``compose_sha256`` and ``env_sha256`` on the record). Equal digests mean nothing
to send; ``failed_digest`` holds the one at which automatic attempts stopped."""

from __future__ import annotations

import hashlib
import json

from functions.context import Context
from functions.records import Stack, Tenant
from shared.errors import CfaError
from shared.params import validate_params
from shared.plans import get_plan
from shared.rendering import render_stack


def env_digest(values: dict[str, str]) -> str:
    """The digest of a stack's secret variables, as stored in ``env_sha256``."""
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()


def config_digest(compose_sha256: str, env_sha256: str) -> str:
    return hashlib.sha256(f"{compose_sha256}:{env_sha256}".encode()).hexdigest()


def applied_digest(stack: Stack) -> str:
    """The configuration Coolify was last given."""
    return config_digest(stack.compose_sha256, stack.env_sha256)


async def desired_digest(ctx: Context, tenant: Tenant, stack: Stack) -> tuple[str, bool]:
    """(the digest of what the stack should be — its render under the plan it is deployed with, and its
    stored secrets —, whether that differs from what Coolify was last given). A stack that no longer
    renders gets a digest of its template and parameters, and counts as drifted (provision says why)."""
    secrets = await ctx.store.get_secrets(stack)
    try:
        template = ctx.catalog.get(stack.template)
        rendered = render_stack(
            template,
            tenant=tenant.slug,
            plan=get_plan(stack.plan or tenant.plan, ctx.settings),
            stack=stack.name,
            params=validate_params(template, stack.params or {}, require_secrets=False),
            base_domain=ctx.settings.base_domain,
            router_url=str(ctx.settings.router_url) if ctx.settings.router_url else None,
        )
    except CfaError:
        raw = json.dumps([stack.template, stack.params, env_digest(secrets)], sort_keys=True, default=str)
        return hashlib.sha256(raw.encode()).hexdigest(), True
    public = validate_params(template, stack.params or {}, require_secrets=False).public
    digest = config_digest(rendered.sha256, env_digest(template.service_variables(public, secrets)))
    return digest, digest != applied_digest(stack)
