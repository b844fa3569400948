"""The llm-workspace template: Open WebUI alone or behind an internal LiteLLM, and what it refuses."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from functions.operations.provision import ProvisionRequest, provision
from functions.operations.status import status
from functions.operations.tenants import create_tenant
from shared.compose_schema import schema_errors
from shared.errors import InvalidInput
from shared.params import ROLLING_TAGS, validate_params
from shared.plans import PLAN_ORDER
from shared.policy import check_policy
from shared.rendering import RenderedStack
from tests.fakes.coolify import FakeCoolify
from tests.functions.conftest import ROUTER_KEY, ContextFactory
from tests.templates.support import ROUTER_URL, as_container_sees, env, env_b64json, render, service, template

NAME = "llm-workspace"
PLANS = PLAN_ORDER[PLAN_ORDER.index(template(NAME).meta.plan_minimum) :]
PUBLIC = "https://chat-acme.agents.example.com"
LITELLM = {"gateway": "litellm"}


def litellm_config(rendered: RenderedStack) -> dict[str, Any]:
    value = env_b64json(rendered, "litellm", "CF_LITELLM_CONFIG_B64")
    assert isinstance(value, dict)
    return value


@pytest.mark.parametrize("plan", PLANS)
def test_with_litellm_the_stack_meets_the_policy_on_every_plan(plan: str) -> None:
    """The LiteLLM variant passes policy and schema too, with both services at the plan's limits."""
    rendered = render(NAME, plan=plan, params=LITELLM)
    profile = template(NAME).profile(plan)
    assert check_policy(rendered.compose, template(NAME), profile) == []
    assert schema_errors(rendered.compose) == []
    for name in ("open-webui", "litellm"):
        limits = service(rendered, name)
        assert float(limits["cpus"]) == profile.services[name].cpus
        assert limits["mem_limit"] == profile.services[name].memory
        assert limits["pids_limit"] == profile.services[name].pids


def test_without_litellm_open_webui_talks_to_the_router_directly() -> None:
    """gateway=router (the default): one service, the Router's URL and the tenant's Router key (as
    variables of their own: OPENAI_API_KEY and RAG_OPENAI_API_KEY are aliases of ROUTER_API_KEY)."""
    rendered = render(NAME, plan="team")
    assert set(rendered.compose["services"]) == {"open-webui"}
    webui = env(rendered, "open-webui")
    assert webui["OPENAI_API_BASE_URL"] == webui["RAG_OPENAI_API_BASE_URL"] == ROUTER_URL
    assert (webui["OPENAI_API_KEY"], webui["RAG_OPENAI_API_KEY"]) == (
        "${OPENAI_API_KEY}",
        "${RAG_OPENAI_API_KEY}",
    )
    variables = template(NAME).service_variables(
        {"gateway": "router"}, {"ROUTER_API_KEY": "r", "LITELLM_MASTER_KEY": "m"}
    )
    assert (variables["OPENAI_API_KEY"], variables["RAG_OPENAI_API_KEY"]) == ("r", "r")
    assert "depends_on" not in service(rendered, "open-webui")


def test_with_litellm_open_webui_talks_to_the_internal_proxy() -> None:
    """gateway=litellm adds the proxy; Open WebUI uses it with the master key once it is healthy."""
    rendered = render(NAME, plan="team", params=LITELLM)
    assert set(rendered.compose["services"]) == {"open-webui", "litellm"}
    webui = env(rendered, "open-webui")
    assert webui["OPENAI_API_BASE_URL"] == webui["RAG_OPENAI_API_BASE_URL"] == "http://litellm:4000/v1"
    assert (webui["OPENAI_API_KEY"], webui["RAG_OPENAI_API_KEY"]) == (
        "${OPENAI_API_KEY}",
        "${RAG_OPENAI_API_KEY}",
    )
    variables = template(NAME).service_variables(
        {"gateway": "litellm"}, {"ROUTER_API_KEY": "r", "LITELLM_MASTER_KEY": "m"}
    )
    assert (variables["OPENAI_API_KEY"], variables["RAG_OPENAI_API_KEY"]) == ("m", "m")
    assert service(rendered, "open-webui")["depends_on"] == {"litellm": {"condition": "service_healthy"}}
    assert env(rendered, "litellm")["LITELLM_MASTER_KEY"] == "${LITELLM_MASTER_KEY}"
    assert template(NAME).meta.services["litellm"].optional


def test_litellm_is_internal_only() -> None:
    """Only Open WebUI gets a (https) Coolify URL; LiteLLM publishes nothing and declares no URL."""
    rendered = render(NAME, plan="business", params=LITELLM)
    assert [(u.name, u.url) for u in rendered.urls] == [("open-webui", f"{PUBLIC}:8080")]
    expose = template(NAME).meta.expose
    assert expose is not None and (expose.service, expose.port) == ("open-webui", 8080)
    for name in ("open-webui", "litellm"):
        assert not {"ports", "expose", "network_mode"} & set(service(rendered, name))
        assert not any(k.startswith(("SERVICE_URL_", "SERVICE_FQDN_")) for k in env(rendered, name))
    assert "networks" not in rendered.compose


def test_litellm_config_points_every_model_at_the_router() -> None:
    """config.yaml lists each model (and the embedding model) as openai/<id> on the Router, keys from env."""
    rendered = render(NAME, plan="team", params={**LITELLM, "models": "gpt-4o-mini,claude-sonnet"})
    config = litellm_config(rendered)
    assert [m["model_name"] for m in config["model_list"]] == [
        "gpt-4o-mini",
        "claude-sonnet",
        "text-embedding-3-small",
    ]
    for model in config["model_list"]:
        assert model["litellm_params"] == {
            "model": "openai/" + model["model_name"],
            "api_base": ROUTER_URL,
            "api_key": "os.environ/ROUTER_API_KEY",
        }
    assert config["model_list"][-1]["model_info"] == {"mode": "embedding"}
    assert config["general_settings"] == {"master_key": "os.environ/LITELLM_MASTER_KEY"}
    assert env(rendered, "open-webui")["DEFAULT_MODELS"] == "gpt-4o-mini"


def test_litellm_entrypoint_writes_the_config_then_starts_litellm(tmp_path: Path) -> None:
    """The entrypoint writes config.yaml to the tmpfs and execs `litellm --config … --port 4000`."""
    rendered = render(NAME, plan="team", params=LITELLM)
    entrypoint = service(rendered, "litellm")["entrypoint"]
    assert entrypoint[:2] == ["python", "-c"]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "litellm"
    fake.write_text(f'#!{sys.executable}\nimport sys\nprint(" ".join(sys.argv[1:]))\n')
    fake.chmod(0o755)
    environment = {k: v for k, v in env(rendered, "litellm").items() if "${" not in v}
    environment.update(PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", TMPDIR=str(tmp_path))
    done = subprocess.run(
        [sys.executable, "-c", as_container_sees(entrypoint[2])],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    written = tmp_path / "litellm-config.yaml"
    assert done.stdout.split() == [
        "--config",
        str(written),
        "--host",
        "0.0.0.0",
        "--port",
        "4000",
        "--num_workers",
        "1",
    ]
    assert json.loads(written.read_text()) == litellm_config(rendered)


def test_litellm_image_is_non_root_and_at_least_1_84() -> None:
    """The default LiteLLM image is litellm-non_root at >= 1.84.0 (never main-stable), run as nobody."""
    rendered = render(NAME, plan="team", params=LITELLM)
    litellm = service(rendered, "litellm")
    match = re.fullmatch(r"ghcr\.io/berriai/litellm-non_root:v(\d+)\.(\d+)\.(\d+)", litellm["image"])
    assert match is not None and tuple(map(int, match.groups())) >= (1, 84, 0)
    assert litellm["user"] == "65534:65534" and litellm["read_only"] is True


@pytest.mark.parametrize(
    "image",
    [
        "ghcr.io/berriai/litellm-non_root:main-stable",
        "ghcr.io/berriai/litellm-non_root:v1.83.14-stable",
        "ghcr.io/berriai/litellm:v1.86.2",
        "ghcr.io/berriai/litellm-database:v1.86.2",
        "ghcr.io/berriai/litellm-non_root",
    ],
)
def test_root_old_or_rolling_litellm_images_are_refused(image: str) -> None:
    """A root image, a version before 1.84.0 or a rolling tag is a parameter error naming litellm_image."""
    with pytest.raises(InvalidInput) as caught:
        validate_params(template(NAME), {"admin_email": "a@example.com", "litellm_image": image})
    assert caught.value.field == "param litellm_image"


def test_signup_is_locked_and_the_admin_comes_from_generated_credentials() -> None:
    """No open signup; the admin comes from admin_email and a generated password shown as a credential."""
    rendered = render(NAME, plan="team", params={"admin_email": "ops@acme.example"})
    webui = env(rendered, "open-webui")
    assert webui["ENABLE_SIGNUP"] == "false" and webui["DEFAULT_USER_ROLE"] == "pending"
    assert webui["WEBUI_ADMIN_EMAIL"] == "ops@acme.example"
    assert webui["WEBUI_ADMIN_PASSWORD"] == "${WEBUI_ADMIN_PASSWORD}"
    secrets = {s.env: s for s in template(NAME).meta.secrets}
    assert secrets["WEBUI_ADMIN_PASSWORD"].kind == "password" and secrets["WEBUI_ADMIN_PASSWORD"].credential
    assert [s.env for s in template(NAME).meta.secrets if s.credential] == ["WEBUI_ADMIN_PASSWORD"]


def test_webui_secret_key_is_generated_and_only_referenced() -> None:
    """WEBUI_SECRET_KEY is generated (not a credential) and passed by reference, so restarts keep sessions."""
    secrets = {s.env: s for s in template(NAME).meta.secrets}
    assert secrets["WEBUI_SECRET_KEY"].kind == "hex" and secrets["WEBUI_SECRET_KEY"].length >= 32
    assert not secrets["WEBUI_SECRET_KEY"].credential
    assert env(render(NAME, plan="team"), "open-webui")["WEBUI_SECRET_KEY"] == "${WEBUI_SECRET_KEY}"
    assert secrets["LITELLM_MASTER_KEY"].kind == "sk"


def test_no_local_embedding_or_speech_models_are_loaded() -> None:
    """Embeddings go to the OpenAI-compatible backend, speech-to-text stays in the browser, Ollama is off."""
    webui = env(render(NAME, plan="team"), "open-webui")
    assert webui["RAG_EMBEDDING_ENGINE"] == "openai"
    assert webui["RAG_EMBEDDING_MODEL"] == "text-embedding-3-small"
    assert webui["RAG_RERANKING_MODEL"] == ""
    assert webui["AUDIO_STT_ENGINE"] == "webapi"
    assert webui["ENABLE_OLLAMA_API"] == "false"
    assert webui["OFFLINE_MODE"] == "true" and webui["HF_HUB_OFFLINE"] == "1"
    assert webui["RAG_EMBEDDING_MODEL_AUTO_UPDATE"] == webui["WHISPER_MODEL_AUTO_UPDATE"] == "false"


def test_health_checks_use_the_cheap_endpoints() -> None:
    """Open WebUI is probed on /health (body checked), LiteLLM on /health/liveliness (not /health)."""
    rendered = render(NAME, plan="team", params=LITELLM)
    webui_check = " ".join(service(rendered, "open-webui")["healthcheck"]["test"])
    litellm_check = " ".join(service(rendered, "litellm")["healthcheck"]["test"])
    assert "http://127.0.0.1:8080/health " in webui_check and "input.status == true" in webui_check
    assert "http://127.0.0.1:4000/health/liveliness" in litellm_check


def test_open_webui_runs_as_root_only_under_the_declared_exception() -> None:
    """The root user is declared with a reason and compensating controls, and the controls are in place."""
    spec = template(NAME).meta.services["open-webui"]
    assert spec.root_exception is not None and "root" in spec.root_exception.reason
    assert len(spec.root_exception.compensating_controls) >= 3
    assert template(NAME).meta.services["litellm"].root_exception is None
    webui = service(render(NAME, plan="team"), "open-webui")
    assert webui["user"] == "0:0"
    assert webui["cap_drop"] == ["ALL"] and webui["security_opt"] == ["no-new-privileges:true"]
    assert webui["volumes"] == ["open-webui-data:/app/backend/data"]


def test_profiles_and_volume_budget() -> None:
    """The whole stack (Open WebUI + LiteLLM) gets 2 CPU and 3-6 GiB by plan from team up; volume >= 5 GiB."""
    assert template(NAME).meta.plan_minimum == "team"
    memories = []
    for plan in PLANS:
        profile = template(NAME).profile(plan)
        assert sum(s.cpus for s in profile.services.values()) == 2.0
        memories.append(sum(s.memory_bytes for s in profile.services.values()) / (1 << 30))
        assert profile.services["litellm"].memory_bytes >= 1 << 30
        assert profile.volume_budget_bytes >= 5 << 30
    assert memories == [3, 4, 6]
    (volume,) = template(NAME).meta.volumes
    assert (volume.service, volume.mount) == ("open-webui", "/app/backend/data")


def test_images_are_pinned() -> None:
    """Both default images carry a version tag, never main/latest/main-stable."""
    rendered = render(NAME, plan="team", params=LITELLM)
    for name in ("open-webui", "litellm"):
        tag = service(rendered, name)["image"].rsplit(":", 1)[1]
        assert tag not in ROLLING_TAGS and re.match(r"v\d+\.\d+\.\d+", tag)


def test_persist_admin_settings_switches_open_webuis_persistent_config() -> None:
    """By default the environment wins on every restart; the parameter lets admin-panel settings persist."""
    assert env(render(NAME, plan="team"), "open-webui")["ENABLE_PERSISTENT_CONFIG"] == "false"
    persisted = render(NAME, plan="team", params={"persist_admin_settings": "true"})
    assert env(persisted, "open-webui")["ENABLE_PERSISTENT_CONFIG"] == "true"


BAD_PARAMS: list[tuple[str, object]] = [
    ("admin_email", "not-an-email"),
    ("admin_email", "a@b"),
    ("admin_email", "x@example.com\nENABLE_SIGNUP: true"),
    ("admin_name", "{{ 7 * 7 }}"),
    ("gateway", "ollama"),
    ("models", ""),
    ("models", "gpt 4"),
    ("embedding_model", "$EMBED"),
    ("persist_admin_settings", "maybe"),
    ("image", "ghcr.io/open-webui/open-webui:main"),
]


@pytest.mark.parametrize(
    ("name", "value"), BAD_PARAMS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(BAD_PARAMS)]
)
def test_bad_values_are_refused_naming_the_parameter(name: str, value: object) -> None:
    """Each invalid value fails validation with an error that names its parameter."""
    with pytest.raises(InvalidInput) as caught:
        validate_params(template(NAME), {"admin_email": "a@example.com", name: value})
    assert caught.value.field == f"param {name}"


def test_rendering_is_deterministic() -> None:
    """The same inputs give the same compose bytes, in both gateway modes."""
    for params in ({}, LITELLM):
        first, second = (
            render(NAME, plan="sovereign", params=params),
            render(NAME, plan="sovereign", params=params),
        )
        assert first.compose_yaml == second.compose_yaml and first.sha256 == second.sha256


@pytest.mark.anyio
async def test_generated_secrets_are_stable_and_only_the_admin_password_is_shown(
    make_ctx: ContextFactory, coolify_fake: FakeCoolify
) -> None:
    """Secrets are generated once, kept when the gateway is switched, and status shows only the password."""
    await create_tenant(make_ctx(), "acme", plan="team", name="Acme GmbH")
    request = ProvisionRequest(
        tenant="acme", template=NAME, params={"router_api_key": ROUTER_KEY, "admin_email": "ops@acme.example"}
    )
    first = await provision(make_ctx(), request)
    envs = coolify_fake.env_values(first.service_uuid)
    generated = {k: envs[k] for k in ("WEBUI_SECRET_KEY", "WEBUI_ADMIN_PASSWORD", "LITELLM_MASTER_KEY")}
    assert all(generated.values())
    assert str(generated["LITELLM_MASTER_KEY"]).startswith("sk-")

    switched = request.model_copy(update={"params": {"admin_email": "ops@acme.example", **LITELLM}})
    second = await provision(make_ctx(), switched)
    assert second.service_uuid == first.service_uuid
    again = coolify_fake.env_values(first.service_uuid)
    assert {k: again[k] for k in generated} == generated
    compose = coolify_fake.service(first.service_uuid).compose
    assert compose is not None and "litellm" in compose.text
    assert not any(str(value) in compose.text for value in generated.values())

    report = await status(make_ctx(), "acme", show_credentials=True)
    assert report.stacks[0].credentials == {"WEBUI_ADMIN_PASSWORD": generated["WEBUI_ADMIN_PASSWORD"]}
