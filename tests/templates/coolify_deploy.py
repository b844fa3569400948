"""Deploy a render to the fake Coolify the way provisioning does, and read what the tenant's code gets.

``deploy`` sends exactly the bodies provision sends (``ServiceCreate``, ``EnvItem``), starts the service
and returns its uuid; the fake applies Coolify's parser, writes its ``.env`` and models ``docker compose
up``. The ``*_view`` functions read the containers the way each template's consumer does (the bot's own
``Config.from_env``, the base64 JSON the OpenClaw init and the LiteLLM entrypoint decode) and return
the parameter values as the running stack sees them.
"""

from __future__ import annotations

import base64
import json
import sys
from typing import Any

import httpx

from shared.catalog import Template
from shared.coolify.models import EnvItem, ServiceCreate
from shared.examples import example_params
from shared.params import validate_params
from shared.rendering import RenderedStack
from shared.secrets import generate
from shared.settings import REPO_ROOT
from tests.fakes.clock import FakeClock
from tests.fakes.coolify import FakeCoolify

APP_DIR = REPO_ROOT / "templates" / "telegram-bot" / "app"
if str(APP_DIR) not in sys.path:
    sys.path.insert(0, str(APP_DIR))

from bot.config import Config  # noqa: E402


def stack_secrets(template: Template, params: dict[str, Any] | None = None) -> dict[str, str]:
    """The variables provision pushes: secret parameters (examples unless given), generated secrets, and
    the aliases the parameters select (``Template.service_variables``, as provision does)."""
    given = {**example_params(template), **(params or {})}
    values = {
        spec.env: str(given[spec.name]) for spec in template.meta.parameters if spec.secret and spec.env
    }
    values.update({s.env: generate(s.kind, s.length) for s in template.meta.secrets})
    public = validate_params(template, given, require_secrets=False).public
    return template.service_variables(public, values)


async def deploy(
    client: httpx.AsyncClient,
    fake: FakeCoolify,
    clock: FakeClock,
    rendered: RenderedStack,
    secrets: dict[str, str],
) -> str:
    """Create, set the variables, start; fails the test (naming Coolify's answer) if a step is refused."""
    project = (await client.post("/projects", json={"name": "cf-acme"})).json()["uuid"]
    body = ServiceCreate.from_compose(
        rendered.compose_yaml,
        name="cf-acme-stack",
        project_uuid=project,
        server_uuid=fake.servers[0].uuid,
        urls=rendered.urls or None,
    )
    response = await client.post("/services", json=body.model_dump(mode="json", exclude_none=True))
    assert response.status_code == 201, f"POST /services: {response.status_code} {response.text}"
    uuid: str = response.json()["uuid"]
    items = [EnvItem(key=k, value=v).model_dump(mode="json") for k, v in sorted(secrets.items())]
    response = await client.patch(f"/services/{uuid}/envs/bulk", json={"data": items})
    assert response.status_code == 201, f"PATCH envs: {response.status_code} {response.text}"
    assert (await client.post(f"/services/{uuid}/start")).status_code == 200
    clock.advance(fake.state.transition_delay + 1)
    return uuid


def from_b64_json(value: str) -> Any:
    """What the OpenClaw init script and the LiteLLM entrypoint do with their ``*_B64`` variables."""
    return json.loads(base64.b64decode(value, validate=True).decode("utf-8"))


def bot_view(fake: FakeCoolify, uuid: str) -> dict[str, Any]:
    """The bot's parameters as its own configuration code reads them from its container."""
    config = Config.from_env(fake.container(uuid, "bot").environment)
    return {
        "model": config.router_model,
        "system_prompt": config.system_prompt,
        "allowed_chat_ids": sorted(config.allowed_chat_ids),
        "history_turns": config.history_turns,
        "telegram_token": config.telegram_token,
        "router_api_key": config.router_api_key,
    }


def openclaw_view(fake: FakeCoolify, uuid: str) -> dict[str, Any]:
    """The agent's parameters as the init service decodes them and the gateway's environment holds them."""
    init = fake.container(uuid, "openclaw-init").environment
    gateway = fake.container(uuid, "openclaw").environment
    config = from_b64_json(init["CF_OPENCLAW_CONFIG_B64"])
    (model,) = config["models"]["providers"]["router"]["models"]
    assert config["agents"]["defaults"]["model"]["primary"] == "router/" + model["id"]
    assert init["CF_OPENCLAW_TZ"] == gateway["TZ"]
    return {
        "model": model["id"],
        "context_window": model["contextWindow"],
        "max_tokens": model["maxTokens"],
        "schedules": from_b64_json(init["CF_OPENCLAW_SCHEDULES_B64"]),
        "timezone": gateway["TZ"],
        "trusted_proxies": config["gateway"]["trustedProxies"],
        "router_api_key": gateway["ROUTER_API_KEY"],
    }


def workspace_view(fake: FakeCoolify, uuid: str) -> dict[str, Any]:
    """The workspace's parameters as Open WebUI's environment and LiteLLM's decoded config hold them."""
    webui = fake.container(uuid, "open-webui").environment
    view: dict[str, Any] = {
        "admin_email": webui["WEBUI_ADMIN_EMAIL"],
        "admin_name": webui["WEBUI_ADMIN_NAME"],
        "embedding_model": webui["RAG_EMBEDDING_MODEL"],
        "persist_admin_settings": webui["ENABLE_PERSISTENT_CONFIG"] == "true",
    }
    if "litellm" in fake.service(uuid).containers:
        litellm = fake.container(uuid, "litellm").environment
        config = from_b64_json(litellm["CF_LITELLM_CONFIG_B64"])
        names = [m["model_name"] for m in config["model_list"] if "model_info" not in m]
        view |= {"gateway": "litellm", "models": names, "router_api_key": litellm["ROUTER_API_KEY"]}
        assert webui["OPENAI_API_KEY"] == litellm["LITELLM_MASTER_KEY"]
    else:
        view |= {"gateway": "router", "router_api_key": webui["OPENAI_API_KEY"]}
    assert webui["DEFAULT_MODELS"] == (view.get("models") or [webui["DEFAULT_MODELS"]])[0]
    return view


VIEWS = {"telegram-bot": bot_view, "openclaw-agent": openclaw_view, "llm-workspace": workspace_view}
