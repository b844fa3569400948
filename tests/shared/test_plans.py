"""Plan lookup, stack quotas and template gating."""

from __future__ import annotations

import pytest

from shared.errors import InvalidInput, PlanLimitError
from shared.plans import check_quota, check_template_allowed, get_plan, stack_limit
from shared.settings import Settings


def test_default_stack_limits() -> None:
    """Starter 2, Team 10, Business 25; Sovereign has no fixed number."""
    settings = Settings()
    assert [get_plan(p, settings).max_stacks for p in ("starter", "team", "business", "sovereign")] == [
        2,
        10,
        25,
        None,
    ]


def test_limits_are_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    """CFA_PLAN_MAX_STACKS overrides the defaults."""
    monkeypatch.setenv("CFA_PLAN_MAX_STACKS", "starter=1,team=3,business=5")
    assert get_plan("starter", Settings()).max_stacks == 1


def test_unknown_plan_lists_the_valid_ones() -> None:
    """An unknown plan is InvalidInput naming the choices."""
    with pytest.raises(InvalidInput) as caught:
        get_plan("gold", Settings())
    assert "starter, team, business, sovereign" in caught.value.advice


def test_quota_refusal_names_plan_limit_and_count() -> None:
    """At the limit, the refusal names the plan, the limit and the current count."""
    with pytest.raises(PlanLimitError) as caught:
        check_quota(get_plan("starter", Settings()), "acme", 2, None)
    assert caught.value.message == "plan starter allows 2 stacks; tenant acme has 2"


def test_sovereign_uses_the_tenant_override() -> None:
    """Sovereign's limit is the tenant's max_stacks, and missing it is an error."""
    plan = get_plan("sovereign", Settings())
    assert stack_limit(plan, 40) == 40
    with pytest.raises(PlanLimitError, match="sovereign"):
        stack_limit(plan, None)


def test_template_minimum_plan() -> None:
    """A template above the tenant's plan is refused with the minimum named."""
    check_template_allowed(get_plan("team", Settings()), "acme", "llm-workspace", "team")
    with pytest.raises(PlanLimitError, match="needs plan team or higher; tenant acme is on starter"):
        check_template_allowed(get_plan("starter", Settings()), "acme", "llm-workspace", "team")
