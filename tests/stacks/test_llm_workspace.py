"""llm-workspace with ``gateway: litellm``, for real, with the compose exactly as ``cfa templates render``
prints it, on a private Docker engine in a loopback-only namespace with a fake Router.

The images are local rebuilds that approximate the upstream ones (no registry here): LiteLLM 1.86.2 from
PyPI on a Debian base as ``nobody`` with HOME=/app (``ghcr.io/berriai/litellm-non_root``), and, for
``make test-stacks-full`` only, Open WebUI 0.11.0 from PyPI with CPU torch, curl and jq, as root
(``ghcr.io/open-webui/open-webui:v0.11.0-slim``). What they prove is the rendered compose, its hardening,
configuration and wiring; not the upstream images' own contents. Test-only changes: the namespace
(``litellm`` resolves to 127.0.0.1 inside it) and 2 s healthcheck intervals.

``make test-stacks`` (every CI run): LiteLLM alone (``up --wait litellm``) runs non-root on a read-only
root and passes a chat completion to the fake Router with the Router key.
``make test-stacks-full``: the whole stack; Open WebUI runs as root with every capability dropped, signup
is locked, the admin exists with the generated password, a chat goes Open WebUI → LiteLLM → Router, and
its data (the chat, the admin, sessions signed with the stable secret key) survive a stop and start.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.stacks.harness import (
    FAKE_MODELS,
    ProbeResult,
    Rendered,
    RunEnv,
    StackRun,
    render,
    running_stack,
    sha256,
    wait_for,
)
from tests.stacks.kernel import applied, hardening_problems
from tests.stacks.report import record_idle

TENANT = "stacks-chat"
MODEL, EMBEDDING = FAKE_MODELS
ADMIN_EMAIL = "admin@stacks-chat.example"
LITELLM_PORT = 4000
WEBUI_PORT = 8080
pytestmark = pytest.mark.timeout(900)


def render_workspace(run: RunEnv) -> Rendered:
    return render(
        run,
        "llm-workspace",
        tenant=TENANT,
        plan="team",
        params={
            "gateway": "litellm",
            "models": MODEL,
            "embedding_model": EMBEDDING,
            "admin_email": ADMIN_EMAIL,
            "litellm_image": run.image("litellm"),
            "image": run.images.get("open-webui") or "ghcr.io/open-webui/open-webui:v0.11.0-slim",
        },
    )


def service_with_image(rendered: Rendered, image: str) -> str:
    return next(name for name, spec in rendered.services.items() if spec.get("image") == image)


def chat(stack: StackRun, port: int, path: str, token: str, text: str) -> ProbeResult:
    body = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": text}], "stream": False})
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    return stack.fakes.probe(
        "POST", f"http://127.0.0.1:{port}{path}", headers=headers, body=body, timeout=120
    )


def routed(stack: StackRun, nonce: str) -> list[dict[str, Any]]:
    return [c for c in stack.fakes.calls("router") if nonce in c.get("all_text", "")]


# --------------------------------------------------------------------------------------------------
# make test-stacks: LiteLLM


@pytest.fixture(scope="module")
def litellm(run: RunEnv, api: Any) -> Iterator[tuple[StackRun, str]]:
    rendered = render_workspace(run)
    service = service_with_image(rendered, run.image("litellm"))
    with running_stack(run, rendered, name="llm-workspace-litellm", api=api, services=[service]) as stack:
        yield stack, service


def test_litellm_runs_non_root_on_a_read_only_root_as_rendered(
    run: RunEnv, api: Any, litellm: tuple[StackRun, str]
) -> None:
    """LiteLLM is healthy with the rendered healthcheck; Docker and the kernel apply the rendered
    hardening (uid 65534, read-only root with a tmpfs, no capabilities, limits, loopback only)."""
    stack, service = litellm
    spec = stack.rendered.service(service)
    found = applied(api, stack.container(service))
    assert found.inspect["State"]["Health"]["Status"] == "healthy"
    assert found.status()["Uid"].split()[0] != "0"
    assert spec["read_only"] is True
    assert hardening_problems(found, spec) == []
    record_idle(run, api, stack, [service])


def test_a_chat_completion_through_litellm_reaches_the_router_with_the_router_key(
    run: RunEnv, litellm: tuple[StackRun, str]
) -> None:
    """With the master key, `/v1/chat/completions` on LiteLLM answers with the fake Router's reply; the
    Router saw the stack's Router key and the model id. Without the master key LiteLLM refuses."""
    stack, _ = litellm
    nonce = secrets.token_hex(6)
    master = stack.secret(generated="LITELLM_MASTER_KEY")
    answer = chat(stack, LITELLM_PORT, "/v1/chat/completions", master, f"ping {nonce}")
    assert answer.status == 200, answer.body[:500]
    assert answer.json()["choices"][0]["message"]["content"] == f"fake-router reply: ping {nonce}"
    (call,) = routed(stack, nonce)
    assert call["auth_sha256"] == sha256(stack.secret(param="router_api_key"))
    assert call["model"] == MODEL
    refused = chat(stack, LITELLM_PORT, "/v1/chat/completions", "sk-" + secrets.token_hex(16), f"no {nonce}")
    assert refused.status in (400, 401, 403)
    assert len(routed(stack, nonce)) == 1


# --------------------------------------------------------------------------------------------------
# make test-stacks-full: Open WebUI in front of LiteLLM


@dataclass
class Workspace:
    stack: StackRun
    webui: str
    litellm: str

    def api_call(self, method: str, path: str, token: str | None = None, payload: Any = None) -> ProbeResult:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        body = json.dumps(payload) if payload is not None else None
        return self.stack.fakes.probe(
            method, f"http://127.0.0.1:{WEBUI_PORT}{path}", headers=headers, body=body, timeout=120
        )

    def sign_in(self, password: str) -> ProbeResult:
        return self.api_call(
            "POST", "/api/v1/auths/signin", payload={"email": ADMIN_EMAIL, "password": password}
        )


@pytest.fixture(scope="module")
def workspace(run: RunEnv, api: Any) -> Iterator[Workspace]:
    rendered = render_workspace(run)
    webui = service_with_image(rendered, run.image("open-webui"))
    litellm_service = service_with_image(rendered, run.image("litellm"))
    with running_stack(run, rendered, name="llm-workspace-full", api=api) as stack:
        yield Workspace(stack, webui, litellm_service)


@pytest.mark.full
def test_open_webui_runs_as_root_with_every_capability_dropped(
    run: RunEnv, api: Any, workspace: Workspace
) -> None:
    """The template's root exception, as it runs: uid 0, but CapEff and CapBnd 0, no-new-privileges, and
    the rest of the rendered hardening; healthy with the rendered curl | jq healthcheck."""
    stack = workspace.stack
    for service, spec in stack.rendered.services.items():
        found = applied(api, stack.container(service))
        assert found.inspect["State"]["Health"]["Status"] == "healthy", service
        assert hardening_problems(found, spec) == [], service
    found = applied(api, stack.container(workspace.webui))
    assert found.status()["Uid"].split()[:2] == ["0", "0"]
    assert found.status()["CapEff"] == "0000000000000000"
    record_idle(run, api, stack, [workspace.webui, workspace.litellm])


@pytest.mark.full
def test_signup_is_locked_and_the_admin_signs_in_with_the_generated_password(
    run: RunEnv, workspace: Workspace
) -> None:
    """Nobody can sign up; the admin account exists with `admin_email` and the generated password (a
    wrong one is refused)."""
    signup = workspace.api_call(
        "POST",
        "/api/v1/auths/signup",
        payload={
            "name": "Mallory",
            "email": "mallory@stacks-chat.example",
            "password": secrets.token_hex(12),
        },
    )
    assert signup.status in (401, 403), signup.body[:300]
    password = workspace.stack.secret(generated="WEBUI_ADMIN_PASSWORD")
    signed_in = workspace.sign_in(password)
    assert signed_in.status == 200, signed_in.body[:300]
    assert signed_in.json()["role"] == "admin"
    assert workspace.sign_in(secrets.token_hex(12)).status in (400, 401, 403)


@pytest.mark.full
def test_a_chat_goes_from_open_webui_through_litellm_to_the_router(run: RunEnv, workspace: Workspace) -> None:
    """Signed in as the admin, a chat completion through Open WebUI comes back with the fake Router's
    answer; the Router saw the Router key (LiteLLM's upstream), not Open WebUI's master key."""
    token = workspace.sign_in(workspace.stack.secret(generated="WEBUI_ADMIN_PASSWORD")).json()["token"]
    nonce = secrets.token_hex(6)
    answer = chat(workspace.stack, WEBUI_PORT, "/api/chat/completions", token, f"hello {nonce}")
    assert answer.status == 200, answer.body[:500]
    assert f"fake-router reply: hello {nonce}" in answer.body
    calls = wait_for(lambda: routed(workspace.stack, nonce), what="the Router call", timeout=60)
    assert calls[0]["auth_sha256"] == sha256(workspace.stack.secret(param="router_api_key"))


@pytest.mark.full
def test_what_open_webui_stored_survives_a_stop_and_start(
    run: RunEnv, api: Any, workspace: Workspace
) -> None:
    """A chat saved before `down` (volumes kept) and `up --wait` is still there, the admin still signs in,
    and a session token from before still works (the secret key is the stable generated one)."""
    password = workspace.stack.secret(generated="WEBUI_ADMIN_PASSWORD")
    token = workspace.sign_in(password).json()["token"]
    title = f"kept {secrets.token_hex(6)}"
    created = workspace.api_call(
        "POST", "/api/v1/chats/new", token, {"chat": {"title": title, "messages": []}}
    )
    assert created.status == 200, created.body[:300]
    chat_id = created.json()["id"]

    workspace.stack.restart()

    kept = workspace.api_call("GET", f"/api/v1/chats/{chat_id}", token)
    assert kept.status == 200, kept.body[:300]
    assert kept.json()["chat"]["title"] == title
    assert workspace.sign_in(password).status == 200
