"""Rendering: values stay inside their scalar, output is deterministic, labels and checks are applied."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx
import pytest
import yaml

from shared.catalog import Template
from shared.errors import ConfigurationError, TemplateError
from shared.params import ValidatedParams, validate_params
from shared.plans import get_plan
from shared.rendering import render_stack
from shared.settings import Settings
from tests.fakes.clock import FakeClock
from tests.fakes.coolify import FakeCoolify
from tests.shared.template_factory import COMPLIANT_COMPOSE, make_template
from tests.templates.coolify_deploy import deploy

STARTER = get_plan("starter", Settings())


@pytest.fixture
def template(tmp_path: Path) -> Template:
    return make_template(tmp_path)


def render(template: Template, params: ValidatedParams, **kwargs: object) -> dict[str, object]:
    rendered = render_stack(
        template,
        tenant="acme",
        plan=STARTER,
        stack="probe",
        params=params,
        base_domain=None,
        router_url=None,
        **kwargs,  # type: ignore[arg-type]
    )
    return rendered.compose


def environment(compose: dict[str, object]) -> dict[str, str]:
    services = compose["services"]
    assert isinstance(services, dict)
    env = services["app"]["environment"]
    assert isinstance(env, dict)
    return env


ACCEPTED_TRICKY = [
    "plain",
    'double "quotes" and \\"escaped\\"',
    "single 'quotes' ''doubled''",
    "colon: space and - dash and # hash",
    "[flow, list] {flow: map} & anchor * alias ! tag | pipe > fold % percent @ at `tick`",
    "costs $5 and $$ already",
    "ünïcödé ✓ 漢字 🙂",
    "---",
    "...",
    "null",
    "true",
    "0x1F",
    "1e3",
    "  leading and trailing spaces  ",
    "\\",
    "'",
    '"',
]


@pytest.mark.parametrize("value", ACCEPTED_TRICKY)
def test_accepted_values_round_trip_exactly(template: Template, value: str) -> None:
    """Any value validation accepts comes back from the parsed compose as the same string ($ doubled)."""
    params = validate_params(template, {"token": "t" * 20, "greeting": value})
    env = environment(render(template, params))
    assert env["GREETING"] == value.replace("$", "$$")
    assert set(env) == {"GREETING", "PROMPT", "COUNT", "IDS", "PROBE_TOKEN"}


BREAKOUTS = [
    "x\nADMIN: injected",
    'x"\nADMIN: "injected',
    "x'\nADMIN: 'injected",
    "x\u2028ADMIN: injected",
    "x\r\nADMIN: injected",
    "x\n  nested: {a: 1}\n",
]


@pytest.mark.parametrize("value", BREAKOUTS)
def test_quoting_holds_even_for_values_validation_would_refuse(template: Template, value: str) -> None:
    """Defence in depth: rendered unvalidated, a break-out attempt still stays one literal scalar."""
    params = ValidatedParams(public={"greeting": value, "prompt": "p", "count": 1, "ids": []}, secret_env={})
    env = environment(render(template, params))
    assert env["GREETING"] == value.replace("$", "$$")
    assert "ADMIN" not in env and "nested" not in env


COOLIFY_WOULD_REWRITE = {
    "{{ 7 * 7 }} and {{team.DB_PASSWORD}}": "shared variables",
    "${PROBE_TOKEN}-suffix": "starting with $",
    "$5 a month": "starting with $",
    "see $SERVICE_FQDN_APP": "$SERVICE_",
}


@pytest.mark.parametrize(("value", "reason"), COOLIFY_WOULD_REWRITE.items())
def test_a_plain_value_coolify_would_rewrite_is_not_sent(template: Template, value: str, reason: str) -> None:
    """Rendered as-is into an environment value, text Coolify's parser reads stops the render (policy)."""
    params = validate_params(template, {"token": "t" * 20, "greeting": value})
    with pytest.raises(TemplateError) as caught:
        render(template, params)
    assert any("GREETING" in p and reason in p for p in caught.value.problems), caught.value.problems


@pytest.mark.parametrize("value", COOLIFY_WOULD_REWRITE)
def test_b64_carries_any_text_and_b64json_any_value(tmp_path: Path, value: str) -> None:
    """`| b64` and `| b64json` give base64 that decodes to exactly the value (text, or JSON)."""
    compose = COMPLIANT_COMPOSE.replace("{{ params.greeting }}", "{{ params.greeting | b64 }}").replace(
        "{{ params.prompt }}", '{{ {"text": params.greeting, "n": [1, "ü"]} | b64json }}'
    )
    template = make_template(tmp_path, compose=compose)
    env = environment(render(template, validate_params(template, {"token": "t" * 20, "greeting": value})))
    assert base64.b64decode(env["GREETING"], validate=True).decode("utf-8") == value
    assert json.loads(base64.b64decode(env["PROMPT"], validate=True)) == {"text": value, "n": [1, "ü"]}


def test_rendering_is_deterministic(template: Template) -> None:
    """Same inputs give byte-identical compose and the same digest."""
    params = validate_params(template, {"token": "t" * 20, "ids": "3,1,2"})
    first = render_stack(
        template, tenant="acme", plan=STARTER, stack="probe", params=params, base_domain=None, router_url=None
    )
    second = render_stack(
        template, tenant="acme", plan=STARTER, stack="probe", params=params, base_domain=None, router_url=None
    )
    assert first.compose_yaml == second.compose_yaml
    assert first.sha256 == second.sha256


def test_standard_labels_on_every_service(template: Template) -> None:
    """cf.managed/tenant/stack/template/plan are set by the renderer."""
    compose = render(template, validate_params(template, {"token": "t" * 20}))
    labels = compose["services"]["app"]["labels"]  # type: ignore[index]
    assert labels == {
        "cf.managed": "true",
        "cf.tenant": "acme",
        "cf.stack": "probe",
        "cf.template": "probe",
        "cf.plan": "starter",
    }


def test_template_may_not_set_cf_labels_itself(tmp_path: Path) -> None:
    """A template that sets cf.tenant could impersonate another tenant: refused."""
    compose = COMPLIANT_COMPOSE.replace(
        "    environment:", '    labels: {cf.tenant: "other"}\n    environment:'
    )
    template = make_template(tmp_path, compose=compose)
    with pytest.raises(TemplateError, match="renderer owns cf"):
        render(template, validate_params(template, {"token": "t" * 20}))


def test_secret_values_never_reach_the_compose(template: Template) -> None:
    """If a secret value shows up in the output (e.g. reused as a public value), rendering refuses."""
    params = validate_params(template, {"token": "t" * 20, "greeting": "shared-secret-value"})
    with pytest.raises(TemplateError, match="secret value"):
        render(template, params, secret_values=["shared-secret-value"])


def test_secret_params_are_references_not_values(template: Template) -> None:
    """The compose carries ${PROBE_TOKEN} (the one form Coolify keeps a reference), never the token."""
    params = validate_params(template, {"token": "real-token-value-123"})
    rendered = render_stack(
        template, tenant="acme", plan=STARTER, stack="probe", params=params, base_domain=None, router_url=None
    )
    assert "real-token-value-123" not in rendered.compose_yaml
    assert environment(rendered.compose)["PROBE_TOKEN"] == "${PROBE_TOKEN}"


def test_undefined_variables_are_errors(tmp_path: Path) -> None:
    """StrictUndefined: a typo in a template fails instead of rendering an empty value."""
    template = make_template(tmp_path, compose=COMPLIANT_COMPOSE.replace("params.greeting", "params.greting"))
    with pytest.raises(TemplateError, match="greting"):
        render(template, validate_params(template, {"token": "t" * 20}))


def test_sandbox_blocks_python_internals(tmp_path: Path) -> None:
    """The sandbox refuses attribute tricks that reach Python internals."""
    compose = COMPLIANT_COMPOSE.replace("{{ params.greeting }}", "{{ params.__class__.__mro__ }}")
    template = make_template(tmp_path, compose=compose)
    with pytest.raises(TemplateError):
        render(template, validate_params(template, {"token": "t" * 20}))


def test_policy_problems_stop_rendering(tmp_path: Path) -> None:
    """A template that publishes ports and runs privileged fails with every problem listed."""
    compose = COMPLIANT_COMPOSE.replace(
        "    cap_drop: [ALL]\n", "    privileged: true\n    ports: ['80:80']\n"
    )
    template = make_template(tmp_path, compose=compose)
    with pytest.raises(TemplateError) as caught:
        render(template, validate_params(template, {"token": "t" * 20}))
    text = " ".join(caught.value.problems)
    assert "ports" in text and "privileged" in text and "cap_drop" in text


def test_schema_violations_stop_rendering(tmp_path: Path) -> None:
    """A key the Compose spec does not know is reported by the JSON-schema check."""
    template = make_template(
        tmp_path, compose=COMPLIANT_COMPOSE.replace("    user:", "    colour: blue\n    user:")
    )
    with pytest.raises(TemplateError, match="schema"):
        render(template, validate_params(template, {"token": "t" * 20}))


def test_public_templates_need_a_base_domain(tmp_path: Path) -> None:
    """A template with a public URL refuses to render without CFA_BASE_DOMAIN, saying so."""
    template = make_template(tmp_path, meta={"expose": {"service": "app", "port": 8080}})
    params = validate_params(template, {"token": "t" * 20})
    with pytest.raises(ConfigurationError, match="CFA_BASE_DOMAIN"):
        render(template, params)
    rendered = render_stack(
        template,
        tenant="acme",
        plan=STARTER,
        stack="probe",
        params=params,
        base_domain="agents.example.com",
        router_url=None,
    )
    assert rendered.fqdn == "https://probe-acme.agents.example.com"
    assert [u.model_dump() for u in rendered.urls] == [
        {"name": "app", "url": "https://probe-acme.agents.example.com:8080"}
    ]


def test_rendered_yaml_parses_to_the_returned_document(template: Template) -> None:
    """compose_yaml (what Coolify gets) and compose (what was checked) are the same document."""
    rendered = render_stack(
        template,
        tenant="acme",
        plan=STARTER,
        stack="probe",
        params=validate_params(template, {"token": "t" * 20, "greeting": "a: b"}),
        base_domain=None,
        router_url=None,
    )
    assert yaml.safe_load(rendered.compose_yaml) == rendered.compose


def test_memory_limit_in_mib_is_in_the_context(tmp_path: Path) -> None:
    """limits.<service>.memory_mib lets a template derive a value (a heap size) from the memory limit."""
    heap = '      HEAP: {{ "--max-old-space-size=" ~ (limits.app.memory_mib * 3 // 4) }}'
    compose = COMPLIANT_COMPOSE.replace(
        "      COUNT: {{ params.count | string }}", "      COUNT: {{ params.count | string }}\n" + heap
    )
    template = make_template(tmp_path, compose=compose)
    env = environment(render(template, validate_params(template, {"token": "t" * 20})))
    assert env["HEAP"] == "--max-old-space-size=48"


@pytest.mark.anyio
async def test_a_dollar_in_a_secret_reaches_the_container_unchanged(
    template: Template, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify, coolify_clock: FakeClock
) -> None:
    """Through Coolify's parser, its `.env` and Compose, a secret holding `$`, `${…}` and `$$` arrives
    as given: the compose keeps a plain reference and `.env` carries the value single-quoted."""
    token = "to$ken-${HOME}-$$-$SERVICE_X"
    params = validate_params(template, {"token": token})
    rendered = render_stack(
        template, tenant="acme", plan=STARTER, stack="probe", params=params, base_domain=None, router_url=None
    )
    uuid = await deploy(
        coolify_client, coolify_fake, coolify_clock, rendered, {"PROBE_TOKEN": token, "PROBE_KEY": "k" * 20}
    )
    assert coolify_fake.container(uuid, "app").environment["PROBE_TOKEN"] == token
    assert token not in yaml.safe_dump(coolify_fake.deployed_compose(uuid))
