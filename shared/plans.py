"""Plans and what they allow: how many stacks, which templates, and which resource profile applies.

Stack counts per plan come from settings (``CFA_PLAN_MAX_STACKS``); Sovereign has no fixed count, each
Sovereign tenant carries its own ``max_stacks``. Resource profiles per plan live in each template's
metadata (see ``shared.catalog``); the plan's rank decides which templates it may use.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.errors import InvalidInput, PlanLimitError
from shared.settings import Settings

PLAN_ORDER = ("starter", "team", "business", "sovereign")


@dataclass(frozen=True)
class Plan:
    name: str
    rank: int
    max_stacks: int | None  # None: per-tenant (Sovereign)

    def at_least(self, other: str) -> bool:
        return self.rank >= PLAN_ORDER.index(other)


def get_plan(name: object, settings: Settings) -> Plan:
    """The plan called ``name``; InvalidInput listing the valid plans otherwise."""
    if not isinstance(name, str) or name not in PLAN_ORDER:
        raise InvalidInput("plan", f"unknown plan {name!r}", advice=f"use one of: {', '.join(PLAN_ORDER)}")
    limit = None if name == "sovereign" else settings.plan_max_stacks.get(name)
    if name != "sovereign" and limit is None:
        raise InvalidInput(
            "plan", f"plan {name!r} has no stack limit configured", advice="set CFA_PLAN_MAX_STACKS"
        )
    return Plan(name=name, rank=PLAN_ORDER.index(name), max_stacks=limit)


def stack_limit(plan: Plan, tenant_max_stacks: int | None) -> int:
    """How many stacks this tenant may have."""
    if plan.max_stacks is not None:
        return plan.max_stacks
    if not tenant_max_stacks:
        raise PlanLimitError(
            "plan sovereign has no stack limit for this tenant",
            advice="set the tenant's max_stacks (cfa tenants create … --max-stacks N)",
        )
    return tenant_max_stacks


def check_quota(plan: Plan, tenant: str, current: int, tenant_max_stacks: int | None) -> None:
    """Refuse one more stack when the tenant is at its plan's limit."""
    limit = stack_limit(plan, tenant_max_stacks)
    if current >= limit:
        raise PlanLimitError(
            f"plan {plan.name} allows {limit} stack{'s' if limit != 1 else ''}; "
            f"tenant {tenant} has {current}",
            advice=f"delete a stack, or give the tenant a larger plan: cfa tenants update {tenant} --plan …",
            details={"plan": plan.name, "limit": limit, "current": current},
        )


def check_template_allowed(plan: Plan, tenant: str, template: str, minimum: str) -> None:
    if not plan.at_least(minimum):
        raise PlanLimitError(
            f"template {template} needs plan {minimum} or higher; tenant {tenant} is on {plan.name}",
            advice=f"move the tenant to plan {minimum} (cfa tenants update {tenant} --plan {minimum}) "
            "or choose another template",
            details={"plan": plan.name, "minimum": minimum},
        )
