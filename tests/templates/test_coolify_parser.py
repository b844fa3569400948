"""Every template's render survives Coolify's service parser: what the tenant gave is what runs.

Each render is deployed to the fake Coolify exactly as provision sends it; the fake applies Coolify
v4.3.10's rewrites (§15 of ../shared/reference/coolify-api.md), writes its `.env` and models `docker
compose up`. The tests then read the containers the way each template's own code does.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import yaml

from shared.errors import InvalidInput
from shared.examples import example_params
from shared.params import validate_params
from tests.fakes.clock import FakeClock
from tests.fakes.coolify import FakeCoolify
from tests.templates.coolify_deploy import VIEWS, deploy, stack_secrets
from tests.templates.support import CATALOG, env_b64json, render, template

pytestmark = pytest.mark.anyio

TEAM_SECRET = "team-secret-value-0001"
# One value per rewrite of §15, then the awkward rest.
DOLLAR_FIRST = "$5 per month, billed yearly"
SHARED_VARIABLE = "Use {{team.DB_PASSWORD}} and {{ project.API_KEY }} as written"
MAGIC_VARIABLE = "Mention $SERVICE_FQDN_BOT, ${SERVICE_PASSWORD_X} and $SERVICE_URL_OPENCLAW_18789"
REFERENCES = "${ROUTER_API_KEY} ${HOME} $HOME $(id) `id` $$ ${"
QUOTING = '  it\'s "quoted", a back\\slash # no comment: ok  '
MULTI_LINE = "first line\n\tsecond line with {{team.DB_PASSWORD}}\n$SERVICE_FQDN_OPENCLAW\n"
EVERY_PRINTABLE = "".join(chr(c) for c in range(0x20, 0x7F)) + " ünï ✓ 漢字 🙂 \u00a0"
SINGLE_LINE_HOSTILE = [DOLLAR_FIRST, SHARED_VARIABLE, MAGIC_VARIABLE, REFERENCES, QUOTING, EVERY_PRINTABLE]
TEXT_HOSTILE = [*SINGLE_LINE_HOSTILE, MULTI_LINE]

# Where each template carries free text from the tenant.
FREE_TEXT: dict[str, tuple[str, Any]] = {
    "telegram-bot": ("system_prompt", lambda text: text),
    "openclaw-agent": ("schedules", lambda text: [{"name": "daily", "cron": "0 8 * * *", "prompt": text}]),
}
VARIANTS = [
    ("telegram-bot", {}),
    ("openclaw-agent", {}),
    ("llm-workspace", {}),
    ("llm-workspace", {"gateway": "litellm"}),
]
VARIANT_IDS = [f"{n}-{'-'.join(v.values()) or 'default'}" for n, v in VARIANTS]


async def deployed(
    client: httpx.AsyncClient,
    fake: FakeCoolify,
    clock: FakeClock,
    name: str,
    params: dict[str, Any],
    secrets: dict[str, str] | None = None,
) -> str:
    """Render ``name`` with ``params`` (business plan), deploy it with the team's shared variables set."""
    fake.set_shared_variable("team", "DB_PASSWORD", TEAM_SECRET)
    fake.set_shared_variable("project", "API_KEY", TEAM_SECRET)
    rendered = render(name, plan="business", params=params)
    return await deploy(client, fake, clock, rendered, secrets or stack_secrets(template(name), params))


def free_text(name: str, text: str) -> dict[str, Any]:
    param, shape = FREE_TEXT[name]
    return {param: shape(text)}


async def deployed_with_text(
    client: httpx.AsyncClient, fake: FakeCoolify, clock: FakeClock, name: str, text: str
) -> str:
    """Deploy ``name`` with ``text`` as its free text, and check that its code reads the text as typed."""
    params = free_text(name, text)
    uuid = await deployed(client, fake, clock, name, params)
    view = VIEWS[name](fake, uuid)
    assert {k: view[k] for k in params} == params
    return uuid


def example_values(name: str) -> dict[str, Any]:
    """The template's own examples (required parameters, secrets included)."""
    return example_params(template(name))


async def test_a_system_prompt_starting_with_a_dollar_is_deployed_as_written(
    coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify, coolify_clock: FakeClock
) -> None:
    """A prompt beginning with `$` ("$5 per month") must not make Coolify answer 500 after saving.

    (The other templates carry free text inside JSON, which never starts with `$`; the generic test
    below covers them.)"""
    await deployed_with_text(coolify_client, coolify_fake, coolify_clock, "telegram-bot", DOLLAR_FIRST)


@pytest.mark.parametrize("name", sorted(FREE_TEXT))
async def test_shared_variable_syntax_arrives_literally(
    coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify, coolify_clock: FakeClock, name: str
) -> None:
    """`{{team.X}}` in a tenant's text reaches the stack as typed: the team's shared variables stay out."""
    uuid = await deployed_with_text(coolify_client, coolify_fake, coolify_clock, name, SHARED_VARIABLE)
    assert TEAM_SECRET not in yaml.safe_dump(coolify_fake.deployed_compose(uuid))


@pytest.mark.parametrize("name", sorted(FREE_TEXT))
async def test_magic_variable_syntax_arrives_literally_and_opens_nothing(
    coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify, coolify_clock: FakeClock, name: str
) -> None:
    """`$SERVICE_FQDN_X` in a text is the tenant's text: no domain, no generated variable appears."""
    uuid = await deployed_with_text(coolify_client, coolify_fake, coolify_clock, name, MAGIC_VARIABLE)
    service = coolify_fake.service(uuid)
    rendered = render(name, plan="business", params=free_text(name, MAGIC_VARIABLE))
    expected = {u.name: u.url for u in rendered.urls}
    assert {app.name: app.fqdn for app in service.applications if app.fqdn} == expected
    assert not [key for key in coolify_fake.env_values(uuid) if key.startswith("SERVICE_")]


@pytest.mark.parametrize(("name", "variant"), VARIANTS, ids=VARIANT_IDS)
async def test_each_container_gets_the_secrets_unchanged(
    coolify_client: httpx.AsyncClient,
    coolify_fake: FakeCoolify,
    coolify_clock: FakeClock,
    name: str,
    variant: dict[str, str],
) -> None:
    """Every generated and given secret reaches every container that references it, byte for byte."""
    secrets = stack_secrets(template(name), variant)
    uuid = await deployed(coolify_client, coolify_fake, coolify_clock, name, variant, secrets)
    for service_name, spec in coolify_fake.deployed_compose(uuid)["services"].items():
        seen = coolify_fake.container(uuid, service_name).environment
        for key in spec.get("environment") or {}:
            if key in secrets:
                assert seen[key] == secrets[key], f"{service_name}: {key}"


@pytest.mark.parametrize(("name", "variant"), VARIANTS, ids=VARIANT_IDS)
async def test_no_secret_is_written_into_the_deployed_compose(
    coolify_client: httpx.AsyncClient,
    coolify_fake: FakeCoolify,
    coolify_clock: FakeClock,
    name: str,
    variant: dict[str, str],
) -> None:
    """Secret references stay references: Coolify's deployed compose never holds a secret's value."""
    secrets = stack_secrets(template(name), variant)
    uuid = await deployed(coolify_client, coolify_fake, coolify_clock, name, variant, secrets)
    text = yaml.safe_dump(coolify_fake.deployed_compose(uuid))
    assert [key for key, value in secrets.items() if value in text] == []


EVERY_PARAMETER: dict[str, dict[str, Any]] = {
    "telegram-bot": {
        "model": "org/model:v1@eu",
        "system_prompt": MULTI_LINE,
        "allowed_chat_ids": "7,-100200300",
        "history_turns": "0",
    },
    "openclaw-agent": {
        "model": "team/model-1",
        "context_window": "4096",
        "max_tokens": 131072,
        "schedules": [{"name": "a", "cron": "*/5 0-6 1,15 * MON-FRI", "prompt": EVERY_PRINTABLE}],
        "timezone": "America/Argentina/Buenos_Aires",
        "trusted_proxies": "10.1.0.0/16,192.168.7.0/24",
    },
    "llm-workspace": {
        "gateway": "litellm",
        "admin_email": "o.brien+ops@mail.acme-corp.example",
        "admin_name": "O'Brien - Ops.",
        "models": "gpt-4o-mini,team/model:v1@eu",
        "embedding_model": "text-embedding-3-large",
        "persist_admin_settings": "yes",
    },
}


@pytest.mark.parametrize("name", sorted(EVERY_PARAMETER))
async def test_every_parameter_arrives_as_validated(
    coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify, coolify_clock: FakeClock, name: str
) -> None:
    """All of a template's parameters at once, awkward but valid, reach its code as validation left them."""
    raw = {**example_values(name), **EVERY_PARAMETER[name]}
    validated = validate_params(template(name), raw)
    uuid = await deployed(coolify_client, coolify_fake, coolify_clock, name, EVERY_PARAMETER[name])
    view = VIEWS[name](coolify_fake, uuid)
    expected = {
        **validated.public,
        **{s.name: raw[s.name] for s in template(name).meta.parameters if s.secret},
    }
    if name == "telegram-bot":
        expected["allowed_chat_ids"] = sorted(expected["allowed_chat_ids"])
    assert view == {key: expected[key] for key in view}
    assert set(view) >= set(EVERY_PARAMETER[name])


def hostile_cases() -> list[tuple[str, str, Any]]:
    """(template, parameter, value): awkward values for every free-form parameter of every template."""
    cases: list[tuple[str, str, Any]] = []
    for tpl in CATALOG:
        for spec in tpl.meta.parameters:
            if spec.secret:
                continue
            if spec.type == "string":
                cases += [(tpl.name, spec.name, value) for value in SINGLE_LINE_HOSTILE]
            elif spec.type == "text":
                cases += [(tpl.name, spec.name, value) for value in TEXT_HOSTILE]
            elif spec.type == "string_list":
                cases += [(tpl.name, spec.name, [value]) for value in SINGLE_LINE_HOSTILE]
            elif spec.type == "schedules":
                cases += [(tpl.name, spec.name, FREE_TEXT[tpl.name][1](value)) for value in TEXT_HOSTILE]
    return cases


HOSTILE = hostile_cases()


@pytest.mark.parametrize(
    ("name", "param", "value"), HOSTILE, ids=[f"{n}-{p}-{i}" for i, (n, p, _) in enumerate(HOSTILE)]
)
async def test_every_free_form_value_is_refused_or_arrives_unchanged(
    coolify_client: httpx.AsyncClient,
    coolify_fake: FakeCoolify,
    coolify_clock: FakeClock,
    name: str,
    param: str,
    value: Any,
) -> None:
    """A value the parameter's type and pattern accept reaches the stack exactly; any other is refused
    naming the parameter (a pattern, for values a third-party image reads without decoding)."""
    params = {param: value}
    if name == "llm-workspace":
        params["gateway"] = "litellm"  # the variant where every parameter reaches a container
    try:
        validated = validate_params(template(name), {**example_values(name), **params})
    except InvalidInput as err:
        assert err.field == f"param {param}"
        return
    uuid = await deployed(coolify_client, coolify_fake, coolify_clock, name, params)
    assert VIEWS[name](coolify_fake, uuid)[param] == validated.public[param]


NODE = shutil.which("node")


@pytest.mark.skipif(NODE is None, reason="node is not installed here")
async def test_the_openclaw_init_script_seeds_what_the_tenant_typed(
    tmp_path: Path, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify, coolify_clock: FakeClock
) -> None:
    """The init service's own script, run on what its container gets from Coolify and Compose, writes
    every hostile prompt into OpenClaw's job file exactly, and keeps OpenClaw's `${…}` placeholders."""
    schedules = [
        {"name": f"p{i}", "cron": "0 8 * * *", "prompt": text} for i, text in enumerate(TEXT_HOSTILE)
    ]
    uuid = await deployed(
        coolify_client, coolify_fake, coolify_clock, "openclaw-agent", {"schedules": schedules}
    )
    init = coolify_fake.container(uuid, "openclaw-init")
    assert NODE is not None and init.command is not None and init.command[:2] == ["node", "-e"]
    state = tmp_path / ".openclaw"
    environment = {
        **init.environment,
        "HOME": str(tmp_path),
        "OPENCLAW_STATE_DIR": str(state),
        "OPENCLAW_CONFIG_PATH": str(state / "openclaw.json"),
        "PATH": os.environ.get("PATH", ""),
    }
    done = await anyio.run_process([NODE, "-e", init.command[2]], env=environment, check=False)
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()
    jobs = json.loads((state / "cron" / "jobs.json").read_text())["jobs"]
    assert [job["payload"]["message"] for job in jobs] == TEXT_HOSTILE
    config = json.loads((state / "openclaw.json").read_text())
    assert config["hooks"]["token"] == "${OPENCLAW_HOOKS_TOKEN}"


async def test_the_litellm_entrypoint_writes_the_config_coolify_delivers(
    tmp_path: Path, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify, coolify_clock: FakeClock
) -> None:
    """LiteLLM's entrypoint, run on what its container gets, writes the template's config unchanged."""
    params = {"gateway": "litellm", "models": "gpt-4o-mini,team/model:v1@eu"}
    uuid = await deployed(coolify_client, coolify_fake, coolify_clock, "llm-workspace", params)
    litellm = coolify_fake.container(uuid, "litellm")
    assert litellm.entrypoint is not None and litellm.entrypoint[:2] == ["python", "-c"]
    fake_litellm = tmp_path / "litellm"
    fake_litellm.write_text(f"#!{sys.executable}\n")
    fake_litellm.chmod(0o755)
    environment = {**litellm.environment, "PATH": str(tmp_path), "TMPDIR": str(tmp_path)}
    done = await anyio.run_process(
        [sys.executable, "-c", litellm.entrypoint[2]], env=environment, check=False
    )
    assert done.returncode == 0, done.stderr.decode()
    written = json.loads((tmp_path / "litellm-config.yaml").read_text())
    assert written == env_b64json(
        render("llm-workspace", plan="business", params=params), "litellm", "CF_LITELLM_CONFIG_B64"
    )
