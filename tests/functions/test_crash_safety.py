"""Crash safety: whatever fails between a Coolify create and storing its uuid, a re-run converges to
exactly one project and one service; lost answers, 429 and 5xx storms never duplicate anything."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from functions.operations.provision import ProvisionRequest, provision
from shared.errors import CfaError, UnavailableError
from shared.pocketbase.client import PocketBase
from shared.pocketbase.embedded import PocketBaseServer
from tests.fakes.coolify import FakeCoolify
from tests.functions.conftest import BOT_PARAMS, ContextFactory, records

pytestmark = pytest.mark.anyio

REQUEST = ProvisionRequest(tenant="acme", template="telegram-bot", stack="bot", params=BOT_PARAMS)


class CrashingTransport(httpx.AsyncHTTPTransport):
    """Real HTTP to PocketBase, except that the first request matching ``crash_on`` fails to connect:
    the process 'dies' right after Coolify created something and before its uuid reached PocketBase."""

    def __init__(self, crash_on: Callable[[httpx.Request], bool]) -> None:
        super().__init__()
        self.crash_on = crash_on
        self.crashed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not self.crashed and self.crash_on(request):
            self.crashed = True
            raise httpx.ConnectError("simulated crash before the uuid was stored")
        return await super().handle_async_request(request)


def storing(collection: str, field: str) -> Callable[[httpx.Request], bool]:
    def matches(request: httpx.Request) -> bool:
        if request.method != "PATCH" or f"/collections/{collection}/records/" not in request.url.path:
            return False
        body = json.loads(request.content or b"{}")
        return bool(body.get(field))

    return matches


def assert_exactly_one(coolify_fake: FakeCoolify) -> None:
    assert [p.name for p in coolify_fake.state.projects.values()] == ["cf-acme"]
    assert len(coolify_fake.services_named("cf-acme-bot")) == 1
    assert [s.status for s in coolify_fake.state.services.values()] == ["running:healthy"]


@pytest.mark.parametrize(
    ("collection", "field"),
    [("tenants", "coolify_project_uuid"), ("stacks", "coolify_service_uuid")],
    ids=["project", "service"],
)
async def test_crash_before_uuid_is_stored_then_rerun_converges(
    make_ctx: ContextFactory,
    acme: str,
    coolify_fake: FakeCoolify,
    pocketbase: PocketBaseServer,
    pb: PocketBase,
    collection: str,
    field: str,
) -> None:
    """Coolify created it, PocketBase never heard: the re-run adopts it by name instead of creating again."""
    transport = CrashingTransport(storing(collection, field))
    async with PocketBase(
        pocketbase.url, pocketbase.email, pocketbase.password, transport=transport
    ) as crashing:
        with pytest.raises(UnavailableError):
            await provision(make_ctx(pocketbase=crashing), REQUEST)
    assert transport.crashed
    result = await provision(make_ctx(), REQUEST)
    assert_exactly_one(coolify_fake)
    assert result.status == "running"
    adopted = {e["action"] for e in await records(pb, "audit_events")}
    assert f"provision.{'project' if collection == 'tenants' else 'service'}_adopted" in adopted


@pytest.mark.parametrize("mode", ["timeout_after", "error_500_after"])
@pytest.mark.parametrize("path", [r"/projects$", r"/services$"], ids=["project", "service"])
async def test_lost_answer_to_a_create_is_resolved_by_lookup(
    make_ctx: ContextFactory, acme: str, coolify_fake: FakeCoolify, mode: str, path: str
) -> None:
    """The create happened but its answer was lost: one run still ends with exactly one of each."""
    fault = coolify_fake.inject("POST", path, mode)  # type: ignore[arg-type]
    await provision(make_ctx(), REQUEST)
    assert fault.fired == 1
    assert len(coolify_fake.calls_to("POST", path)) == 1
    assert_exactly_one(coolify_fake)


@pytest.mark.parametrize("path", [r"/projects$", r"/services$"], ids=["project", "service"])
async def test_failed_create_before_applying_is_retryable_and_rerun_converges(
    make_ctx: ContextFactory, acme: str, coolify_fake: FakeCoolify, path: str
) -> None:
    """A create that timed out before Coolify acted is not found: retryable error, then one of each."""
    coolify_fake.inject("POST", path, "timeout_before")
    with pytest.raises(CfaError) as caught:
        await provision(make_ctx(), REQUEST)
    assert caught.value.retryable
    await provision(make_ctx(), REQUEST)
    assert_exactly_one(coolify_fake)


async def test_429_storm_converges(make_ctx: ContextFactory, acme: str, coolify_fake: FakeCoolify) -> None:
    """Rate-limit answers on every kind of call delay the run but change nothing about the result."""
    for method, path in [
        ("GET", r"/projects$"),
        ("POST", r"/projects$"),
        ("POST", r"/services$"),
        ("*", r"/envs/bulk$"),
    ]:
        coolify_fake.inject(method, path, "rate_limited", times=2, retry_after=5)
    await provision(make_ctx(), REQUEST)
    assert_exactly_one(coolify_fake)


async def test_5xx_storm_on_reads_converges(
    make_ctx: ContextFactory, acme: str, coolify_fake: FakeCoolify
) -> None:
    """Repeated 500s on reads are retried with backoff; the run completes with one of each."""
    coolify_fake.inject("GET", r"/projects", "error_500_before", times=3)
    coolify_fake.inject("GET", r"/services/", "error_500_before", times=3)
    await provision(make_ctx(), REQUEST)
    assert_exactly_one(coolify_fake)


async def test_persistent_outage_is_retryable_and_recorded(
    make_ctx: ContextFactory, acme: str, coolify_fake: FakeCoolify, pb: PocketBase
) -> None:
    """When Coolify keeps failing the run stops with a retryable error kept on the stack; a re-run heals."""
    coolify_fake.inject("GET", r"/servers/[^/]+/destinations$", "error_500_before", times=None)
    with pytest.raises(UnavailableError):
        await provision(make_ctx(), REQUEST)
    (stack,) = await records(pb, "stacks")
    assert "500" in stack["last_error"] and stack["status"] != "failed"
    coolify_fake.clear_faults()
    await provision(make_ctx(), REQUEST)
    assert_exactly_one(coolify_fake)
