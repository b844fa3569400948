"""`cfa hooks install` points Coolify's webhook channel at cfa serve; `cfa doctor` checks both ends."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.cli.conftest import Cfa
from tests.fakes.coolify import FakeCoolify
from tests.fakes.serve import serve_app

TOKEN = "webhook-token-for-the-cli-test-01234"


@pytest.fixture
def functions_url() -> Iterator[str]:
    """Something answering /healthz like cfa serve."""

    async def healthz(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    with serve_app(Starlette(routes=[Route("/healthz", healthz)])) as url:
        yield url


def test_install_sets_the_channel_with_the_handled_events(
    cfa: Cfa, served_coolify: tuple[FakeCoolify, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The receiver URL carries the token (never printed or audited); scheduled-task, reachability
    and disk events on, deployment events off."""
    fake, url = served_coolify
    cfa("pb", "migrate")
    monkeypatch.setenv("CFA_WEBHOOK_TOKEN", TOKEN)
    code, out, err = cfa("hooks", "install", "--url", "https://functions.example.com/", "--json", coolify=url)
    assert code == 0, err
    result = json.loads(out)
    assert result["url"] == "https://functions.example.com/hooks/coolify/***"
    hooks = fake.state.webhook
    assert (
        hooks.webhook_enabled and hooks.webhook_url == f"https://functions.example.com/hooks/coolify/{TOKEN}"
    )
    assert hooks.toggles["server_unreachable_webhook_notifications"] is True
    assert hooks.toggles["scheduled_task_failure_webhook_notifications"] is True
    assert hooks.toggles["deployment_success_webhook_notifications"] is False
    assert TOKEN not in out and TOKEN not in err
    code, out, _ = cfa("audit", "--json")
    assert TOKEN not in out and "hooks.installed" in out


def test_install_refuses_without_a_token_and_explains_coolifys_ssrf_guard(
    cfa: Cfa, served_coolify: tuple[FakeCoolify, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No CFA_WEBHOOK_TOKEN: exit 6. A loopback URL: Coolify refuses it (422), and the advice says why."""
    fake, url = served_coolify
    cfa("pb", "migrate")
    code, _, err = cfa("hooks", "install", "--url", "https://functions.example.com", coolify=url)
    assert code == 6 and "CFA_WEBHOOK_TOKEN is not set" in err
    monkeypatch.setenv("CFA_WEBHOOK_TOKEN", TOKEN)
    code, _, err = cfa("hooks", "install", "--url", "http://127.0.0.1:8480", coolify=url)
    assert code == 8 and "allow the host in Coolify's Settings → Advanced" in err
    assert not fake.state.webhook.webhook_enabled


def test_doctor_reports_the_channel_and_the_receiver(
    cfa: Cfa, served_coolify: tuple[FakeCoolify, str], monkeypatch: pytest.MonkeyPatch, functions_url: str
) -> None:
    """Before install: webhooks fail with the command to run; after: ok; the receiver answers."""
    fake, url = served_coolify
    cfa("pb", "migrate")
    monkeypatch.setenv("CFA_WEBHOOK_TOKEN", TOKEN)
    monkeypatch.setenv("CFA_FUNCTIONS_URL", functions_url)
    fake.state.webhook.allowed_internal_hosts.add("127.0.0.1")
    _, out, _ = cfa("doctor", "--json", coolify=url)
    checks = {c["name"]: c for c in json.loads(out)}
    assert (
        checks["webhooks"]["outcome"] == "fail" and "cfa hooks install --url" in checks["webhooks"]["advice"]
    )
    assert checks["functions"]["outcome"] == "ok"
    assert cfa("hooks", "install", "--url", functions_url, coolify=url)[0] == 0
    _, out, _ = cfa("doctor", "--json", coolify=url)
    checks = {c["name"]: c for c in json.loads(out)}
    assert checks["webhooks"]["outcome"] == "ok"
    assert "hidden from this token" in checks["webhooks"]["detail"]
