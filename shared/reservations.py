"""What one stack reserves on its host under its plan: the limits of the services it actually runs.

A template's optional services (LiteLLM behind ``gateway: litellm``) reserve only when the stack's
parameters render them, so the stack is rendered (cached per template, plan and parameters) to see
which services it has. Volume space is the plan's volume budget for the template (0 when stateless).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from shared.catalog import Template
from shared.errors import CfaError
from shared.params import validate_params
from shared.plans import Plan
from shared.rendering import render_stack


@dataclass(frozen=True)
class Reservation:
    cpus: float
    memory_bytes: int
    volume_bytes: int


def reserved(template: Template, plan: Plan, params: dict[str, Any] | None) -> Reservation:
    """The stack's reservation; its template's whole profile when the stored parameters no longer
    render (an over-estimate is the safe side)."""
    key = json.dumps(params or {}, sort_keys=True, default=str)
    return _reserved(template, plan, key)


@lru_cache(maxsize=4096)
def _reserved(template: Template, plan: Plan, params_json: str) -> Reservation:
    profile = template.profile(plan.name)
    try:
        rendered = render_stack(
            template,
            tenant="capacity",
            plan=plan,
            stack="capacity",
            params=validate_params(template, json.loads(params_json), require_secrets=False),
            base_domain="capacity.invalid",
            router_url="https://router.invalid/v1",
        )
        names = set(rendered.compose.get("services") or {})
    except CfaError:
        names = set(profile.services)
    limits = [limits for name, limits in profile.services.items() if name in names]
    return Reservation(
        cpus=round(sum(limit.cpus for limit in limits), 3),
        memory_bytes=sum(limit.memory_bytes for limit in limits),
        volume_bytes=profile.volume_budget_bytes if template.meta.stateful else 0,
    )
