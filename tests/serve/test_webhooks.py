"""`POST /hooks/coolify/{token}`: every Coolify event the receiver knows, and everything it refuses."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.routing import Route

from functions.dispatch import Dispatcher
from functions.operations.provision import ProvisionRequest, provision
from functions.runtime import Runtime
from functions.sources.webhooks import MAX_BODY, receiver
from shared.pocketbase.client import PocketBase
from tests.fakes.coolify import FakeCoolify
from tests.functions.conftest import BOT_PARAMS, ContextFactory, make_settings
from tests.monitor.support import Sink
from tests.serve.conftest import dispatching_runtime

pytestmark = pytest.mark.anyio

TOKEN = "hook-token-for-tests-0123456789"


@pytest.fixture
async def hooks(
    pb: PocketBase, coolify_fake: FakeCoolify, sink: Sink
) -> AsyncIterator[tuple[httpx.AsyncClient, Dispatcher, Runtime]]:
    settings = make_settings(
        webhook_token=SecretStr(TOKEN), apprise_urls=SecretStr(sink.url), actor="functions"
    )
    async with dispatching_runtime(settings, pb, coolify_fake) as (rt, dispatcher):
        app = Starlette(routes=[Route("/hooks/coolify/{token}", receiver(rt), methods=["POST"])])
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://functions.test"
        ) as http:
            yield http, dispatcher, rt


async def post(http: httpx.AsyncClient, body: Any, token: str = TOKEN) -> httpx.Response:
    return await http.post(
        f"/hooks/coolify/{token}", content=json.dumps(body), headers={"Content-Type": "application/json"}
    )


async def settled(dispatcher: Dispatcher, rt: Runtime) -> None:
    await dispatcher.wait_idle()
    await rt.alerter.flush()


async def test_a_failed_task_of_a_stack_is_audited_on_it_and_alerted(
    hooks: tuple[httpx.AsyncClient, Dispatcher, Runtime],
    make_ctx: ContextFactory,
    acme: str,
    pb: PocketBase,
    sink: Sink,
) -> None:
    """task_failed with a service uuid → an audit event on that stack (actor functions) and one alert;
    task_success → an audit event, no alert."""
    http, dispatcher, rt = hooks
    result = await provision(
        make_ctx(), ProvisionRequest(tenant="acme", template="telegram-bot", params=BOT_PARAMS)
    )
    body = {
        "success": False,
        "message": "Scheduled task failed",
        "event": "task_failed",
        "task_name": "nightly",
        "task_uuid": "t1",
        "output": "exit 1",
        "service_uuid": result.service_uuid,
        "url": "https://c/x",
    }
    assert (await post(http, body)).status_code == 200
    ok = {**body, "success": True, "event": "task_success", "message": "done", "output": "fine"}
    assert (await post(http, ok)).status_code == 200
    await settled(dispatcher, rt)
    events = {
        e["action"]: e for e in await pb.list_records("audit_events") if e["action"].startswith("coolify.")
    }
    failed = events["coolify.task_failed"]
    assert (failed["tenant"], failed["stack"], failed["actor"], failed["outcome"]) == (
        "acme",
        "bot",
        "functions",
        "failed",
    )
    assert failed["details"]["output"] == "exit 1" and "coolify.task_succeeded" in events
    assert [m["title"] for m in sink.messages()] == ["[WARNING] scheduled task nightly failed on acme/bot"]
    assert "runbooks/coolify-task-failed.md" in sink.messages()[0]["message"]


@pytest.mark.parametrize(
    ("event", "extra", "title", "runbook"),
    [
        (
            "server_unreachable",
            {},
            "[CRITICAL] Coolify server srv-1 is unreachable",
            "coolify-server-unreachable",
        ),
        (
            "server_reachable",
            {},
            "[RESOLVED] Coolify server srv-1 is reachable again",
            "coolify-server-unreachable",
        ),
        (
            "high_disk_usage",
            {"disk_usage": 93, "threshold": 80},
            "[WARNING] Coolify server srv-1: disk usage is high",
            "coolify-disk-usage",
        ),
    ],
)
async def test_server_events_alert_with_their_runbook(
    hooks: tuple[httpx.AsyncClient, Dispatcher, Runtime],
    pb: PocketBase,
    sink: Sink,
    event: str,
    extra: dict[str, Any],
    title: str,
    runbook: str,
) -> None:
    """Server reachability and disk usage are alerted with a runbook link and audited."""
    http, dispatcher, rt = hooks
    body = {
        "success": False,
        "message": "m",
        "event": event,
        "server_name": "srv-1",
        "server_uuid": "s1",
        "url": "https://c/s",
        **extra,
    }
    assert (await post(http, body)).status_code == 200
    await settled(dispatcher, rt)
    (message,) = sink.messages()
    assert message["title"] == title and f"runbooks/{runbook}.md" in message["message"]
    if event == "high_disk_usage":
        assert "disk usage 93%, threshold 80%" in message["message"]
    assert [e["action"] for e in await pb.list_records("audit_events")] == [
        f"coolify.server_{event.removeprefix('server_').replace('high_disk_usage', 'disk_usage')}"
    ]


@pytest.mark.parametrize(
    "event", ["deployment_success", "deployment_failed", "container_stopped", "brand_new_event"]
)
async def test_other_events_are_accepted_and_only_logged(
    hooks: tuple[httpx.AsyncClient, Dispatcher, Runtime], pb: PocketBase, sink: Sink, event: str
) -> None:
    """Deployments (applications only) and unknown events: 200, nothing recorded, nothing sent."""
    http, dispatcher, rt = hooks
    answer = await post(http, {"success": True, "message": "x", "event": event, "application_uuid": "a"})
    assert answer.status_code == 200 and answer.json() == {"accepted": True, "handled": False}
    await settled(dispatcher, rt)
    assert await pb.list_records("audit_events") == [] and sink.messages() == []


async def test_the_test_event_answers_200(hooks: tuple[httpx.AsyncClient, Dispatcher, Runtime]) -> None:
    """Coolify's "send test notification"."""
    http, _, _ = hooks
    answer = await post(http, {"success": True, "message": "Test", "event": "test", "url": "https://c"})
    assert (answer.status_code, answer.json()) == (200, {"ok": True})


async def test_bad_input_is_refused_with_nothing_changed(
    hooks: tuple[httpx.AsyncClient, Dispatcher, Runtime], pb: PocketBase, sink: Sink
) -> None:
    """A wrong token → 401, a body over 64 KiB → 413, a malformed body → 422; never a 5xx, no effect."""
    http, dispatcher, rt = hooks
    good = {
        "success": False,
        "message": "m",
        "event": "server_unreachable",
        "server_name": "a",
        "server_uuid": "s",
    }
    assert (await post(http, good, token="wrong")).status_code == 401
    assert (await post(http, good, token=TOKEN[:-1])).status_code == 401
    big = {**good, "message": "x" * MAX_BODY}
    assert (await post(http, big)).status_code == 413
    assert (await http.post(f"/hooks/coolify/{TOKEN}", content=b"{not json")).status_code == 422
    assert (await post(http, {"message": "no event"})).status_code == 422
    assert (await post(http, {**good, "server_uuid": None})).status_code == 422
    assert (await post(http, ["a", "list"])).status_code == 422
    await settled(dispatcher, rt)
    assert await pb.list_records("audit_events") == [] and sink.messages() == []
    assert await pb.list_records("webhook_receipts") == []


async def test_a_replay_has_no_second_effect(
    hooks: tuple[httpx.AsyncClient, Dispatcher, Runtime], pb: PocketBase, sink: Sink
) -> None:
    """The same body again (Coolify's own retries, or a replay): acknowledged, one audit, one alert."""
    http, dispatcher, rt = hooks
    body = {
        "success": False,
        "message": "m",
        "event": "server_unreachable",
        "server_name": "srv",
        "server_uuid": "s",
    }
    first = await post(http, body)
    second = await post(http, body)
    assert first.json() == {"accepted": True, "handled": True}
    assert second.status_code == 200 and second.json() == {"accepted": True, "replay": True}
    await settled(dispatcher, rt)
    assert len(await pb.list_records("audit_events")) == 1 and len(sink.messages()) == 1
