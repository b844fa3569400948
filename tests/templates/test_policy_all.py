"""Every shipped template and every plan it is offered on renders and meets the whole policy."""

from __future__ import annotations

import base64

import pytest
import yaml

from shared.catalog import Template, load_catalog, parse_size
from shared.compose_schema import schema_errors
from shared.coolify.models import encode_compose
from shared.examples import example_params
from shared.params import check_defaults, validate_params
from shared.plans import PLAN_ORDER, get_plan
from shared.policy import check_policy
from shared.rendering import render_stack
from shared.settings import REPO_ROOT, Settings

CATALOG = load_catalog(REPO_ROOT / "templates")
CASES = [
    (template, plan)
    for template in CATALOG
    for plan in PLAN_ORDER[PLAN_ORDER.index(template.meta.plan_minimum) :]
]


def _render(template: Template, plan: str) -> tuple[str, dict[str, object]]:
    rendered = render_stack(
        template,
        tenant="acme",
        plan=get_plan(plan, Settings()),
        stack=template.meta.default_stack_name,
        params=validate_params(template, example_params(template)),
        base_domain="agents.example.com",
        router_url="https://router.example.com/v1",
    )
    return rendered.compose_yaml, rendered.compose


def test_the_catalog_is_not_empty() -> None:
    """At least the telegram bot ships."""
    assert "telegram-bot" in CATALOG.names()


@pytest.mark.parametrize(("template", "plan"), CASES, ids=[f"{t.name}-{p}" for t, p in CASES])
def test_template_meets_policy_on_plan(template: Template, plan: str) -> None:
    """Rendered with its examples, the stack passes policy and schema, with limits equal to the plan's."""
    compose_yaml, compose = _render(template, plan)
    profile = template.profile(plan)
    assert check_policy(compose, template, profile) == []
    assert schema_errors(compose) == []
    services = compose["services"]
    assert isinstance(services, dict)
    for name, limits in profile.services.items():
        if name not in services and template.meta.services[name].optional:
            continue  # a sidecar behind a parameter switch (the template's own tests render it)
        deployed = services[name]
        assert "deploy" not in deployed
        assert float(deployed["cpus"]) == limits.cpus
        assert parse_size(deployed["mem_limit"]) == limits.memory_bytes
        assert deployed["pids_limit"] == limits.pids
    raw = encode_compose(compose_yaml)
    assert base64.b64encode(base64.b64decode(raw, validate=True)).decode() == raw
    assert yaml.safe_load(base64.b64decode(raw)) == compose


@pytest.mark.parametrize("template", list(CATALOG), ids=CATALOG.names())
def test_defaults_are_valid(template: Template) -> None:
    """A template's own defaults pass its parameter validation."""
    assert check_defaults(template) == []


@pytest.mark.parametrize("template", list(CATALOG), ids=CATALOG.names())
def test_every_template_has_a_readme(template: Template) -> None:
    """Operators get a README per template."""
    assert template.readme and len(template.readme) > 200
