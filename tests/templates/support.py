"""Render the shipped templates the way provisioning does, for the template-specific tests."""

from __future__ import annotations

import base64
import json
from typing import Any

from shared.catalog import Template, load_catalog
from shared.examples import example_params
from shared.params import validate_params
from shared.plans import get_plan
from shared.rendering import RenderedStack, render_stack
from shared.settings import REPO_ROOT, Settings
from tests.conftest import compose_loader_or_none

CATALOG = load_catalog(REPO_ROOT / "templates")
# Every template test renders through Compose v2's loader too, where the machine has one
# (tests/templates/test_compose_v2.py requires it under CI).
LOADER = compose_loader_or_none()
ROUTER_URL = "https://router.example.com/v1"
BASE_DOMAIN = "agents.example.com"


def render(
    name: str,
    *,
    plan: str,
    params: dict[str, Any] | None = None,
    stack: str | None = None,
    secret_values: list[str] | None = None,
) -> RenderedStack:
    """Render template ``name`` for tenant acme with its example values overridden by ``params``."""
    template = CATALOG.get(name)
    return render_stack(
        template,
        tenant="acme",
        plan=get_plan(plan, Settings()),
        stack=stack or template.meta.default_stack_name,
        params=validate_params(template, {**example_params(template), **(params or {})}),
        base_domain=BASE_DOMAIN,
        router_url=ROUTER_URL,
        secret_values=secret_values,
        loader=LOADER,
    )


def template(name: str) -> Template:
    return CATALOG.get(name)


def service(rendered: RenderedStack, name: str) -> dict[str, Any]:
    services = rendered.compose["services"]
    assert isinstance(services, dict) and name in services, f"no service {name}"
    value = services[name]
    assert isinstance(value, dict)
    return value


def env(rendered: RenderedStack, name: str) -> dict[str, str]:
    environment = service(rendered, name)["environment"]
    assert isinstance(environment, dict)
    return {str(k): str(v) for k, v in environment.items()}


def as_container_sees(value: str) -> str:
    """What Docker Compose hands the container for a rendered value without ${…} references: $$ → $."""
    assert "${" not in value.replace("$${", ""), "value carries a Compose reference"
    return value.replace("$$", "$")


def env_b64json(rendered: RenderedStack, service_name: str, key: str) -> Any:
    """A JSON document the template passes base64-encoded in an environment variable, decoded."""
    return json.loads(base64.b64decode(env(rendered, service_name)[key], validate=True).decode("utf-8"))
