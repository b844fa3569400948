"""Docker Compose v2's own loader accepts every render: every template, plan and variant.

Coolify runs `docker compose up` on the host without loading the file first, so a render Compose
refuses is a deploy failure for every tenant. The JSON schema cannot see such problems; this can.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from shared.compose_loader import DUMMY_VALUE, ComposeLoader, referenced_variables
from shared.plans import PLAN_ORDER
from tests.templates.support import CATALOG, render

VARIANTS: dict[str, list[dict[str, Any]]] = {
    "telegram-bot": [{}],
    "openclaw-agent": [{}],
    "llm-workspace": [{"gateway": "router"}, {"gateway": "litellm"}],
}
# Values every parameter type allows that are awkward for YAML, Compose or Coolify: quotes,
# backslashes, $ (leading, in ${…}, in $SERVICE_…), '#', ': ', {{…}}, non-ASCII, several lines.
AWKWARD_TEXT = (
    '$5/month: say "hi" & it\'s 100% {ok} # not a comment \\ ünïcode ✓\n'
    "${ROUTER_API_KEY} {{team.DB_PASSWORD}} $SERVICE_FQDN_BOT $$"
)
AWKWARD: dict[str, dict[str, Any]] = {
    "telegram-bot": {"system_prompt": AWKWARD_TEXT, "allowed_chat_ids": "1,-100200300"},
    "openclaw-agent": {"schedules": [{"name": "daily", "cron": "0 8 * * *", "prompt": AWKWARD_TEXT}]},
    "llm-workspace": {"gateway": "litellm", "admin_name": "O'Brien - Ops"},
}
CASES = [
    (name, plan, variant)
    for name, variants in VARIANTS.items()
    for plan in PLAN_ORDER[PLAN_ORDER.index(CATALOG.get(name).meta.plan_minimum) :]
    for variant in variants
]


def test_every_template_has_its_variants_listed() -> None:
    """A new template cannot slip past this check: every catalog entry is covered."""
    assert set(VARIANTS) == set(CATALOG.names())


@pytest.mark.parametrize(
    ("name", "plan", "variant"),
    CASES,
    ids=[f"{n}-{p}-{'-'.join(map(str, v.values())) or 'default'}" for n, p, v in CASES],
)
def test_compose_loads_the_render(
    compose_loader: ComposeLoader, name: str, plan: str, variant: dict[str, Any]
) -> None:
    """`docker compose config -q` accepts the rendered stack."""
    rendered = render(name, plan=plan, params=variant)
    assert compose_loader.problems(rendered.compose_yaml) == []


@pytest.mark.parametrize("name", sorted(AWKWARD))
def test_compose_loads_awkward_parameter_values(compose_loader: ComposeLoader, name: str) -> None:
    """Quotes, backslashes, `$`, `{{…}}` and friends still give a file Compose loads."""
    rendered = render(name, plan="business", params=AWKWARD[name])
    assert compose_loader.problems(rendered.compose_yaml) == []


def test_the_loader_catches_what_the_schema_cannot(compose_loader: ComposeLoader) -> None:
    """The layout the templates used before (pids_limit next to deploy.resources.limits) is refused by
    Compose >= 2.26, though the JSON schema accepts it."""
    compose = yaml.safe_load(render("telegram-bot", plan="starter").compose_yaml)
    bot = compose["services"]["bot"]
    bot["deploy"] = {"resources": {"limits": {"cpus": bot.pop("cpus"), "memory": bot.pop("mem_limit")}}}
    problems = compose_loader.problems(yaml.safe_dump(compose))
    assert any("can't set distinct values on 'pids_limit'" in p for p in problems), problems


def test_required_variables_get_a_dummy_and_an_escaped_dollar_is_not_one() -> None:
    """Only real references get the (non-secret) dummy value; `$$` is an escaped dollar."""
    text = 'A: "${ROUTER_API_KEY:?}"\nB: "$$5 and $${NOT_A_REF}"\nC: "$PLAIN"\n'
    assert referenced_variables(text) == {"ROUTER_API_KEY", "PLAIN"}
    assert "secret" not in DUMMY_VALUE and len(DUMMY_VALUE) > 10
