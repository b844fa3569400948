"""A rotation whose process dies at any step converges, by a re-run or by the event functions'
finish_rotation: Coolify ends with what is stored, the derived pair equal to its source, exactly one set
of new values once any was stored, and nothing pending or drifting."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from functions.operations.provision import ProvisionRequest, provision
from functions.operations.rotate import RotateResult, finish_rotation, rotate
from functions.operations.tenants import create_tenant
from shared.pocketbase.client import PocketBase
from shared.pocketbase.embedded import PocketBaseServer
from tests.fakes.coolify import FakeCoolify
from tests.functions.conftest import ROUTER_KEY, ContextFactory, records
from tests.functions.test_rotate import assert_consistent, secrets_of, stack_record

pytestmark = pytest.mark.anyio

WORKSPACE = {"router_api_key": ROUTER_KEY, "admin_email": "admin@example.com", "gateway": "litellm"}
ROTATED = "LITELLM_MASTER_KEY"


class Crash(BaseException):
    """The process died here: nothing after it runs, no failure is recorded (unlike a CfaError)."""


Matcher = Callable[[httpx.Request], bool]


class CrashingPocketBase(httpx.AsyncHTTPTransport):
    """Real HTTP to PocketBase; dies before sending the first request ``crash_on`` matches."""

    def __init__(self, crash_on: Matcher) -> None:
        super().__init__()
        self.crash_on, self.crashed = crash_on, False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not self.crashed and self.crash_on(request):
            self.crashed = True
            raise Crash(request.url.path)
        return await super().handle_async_request(request)


class CrashingCoolify(httpx.AsyncBaseTransport):
    """The fake Coolify; dies before sending the first request ``crash_on`` matches."""

    def __init__(self, inner: httpx.AsyncBaseTransport, crash_on: Matcher) -> None:
        self.inner, self.crash_on, self.crashed = inner, crash_on, False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not self.crashed and self.crash_on(request):
            self.crashed = True
            raise Crash(request.url.path)
        return await self.inner.handle_async_request(request)


def writing(collection: str, field: str = "") -> Matcher:
    def matches(request: httpx.Request) -> bool:
        if (
            request.method not in ("POST", "PATCH")
            or f"/collections/{collection}/records" not in request.url.path
        ):
            return False
        return not field or field in json.loads(request.content or b"{}")

    return matches


def coolify_call(method: str, suffix: str) -> Matcher:
    return lambda request: request.method == method and request.url.path.endswith(suffix)


# Where the process dies, in the order a rotation runs; each crashes *before* that request is sent.
STEPS: dict[str, tuple[str, Matcher]] = {
    "before_store": ("pocketbase", writing("stack_secrets")),  # intent recorded, nothing stored
    "before_envs": ("coolify", coolify_call("PATCH", "/envs/bulk")),  # stored, Coolify has the old ones
    "before_restart": ("coolify", coolify_call("POST", "/restart")),  # Coolify has them, not served
    "before_transition": ("pocketbase", writing("stacks", "status")),  # restart queued, not recorded
}


async def crashed_rotation(
    make_ctx: ContextFactory, fake: FakeCoolify, pocketbase: PocketBaseServer, step: str, tenant: str
) -> None:
    where, matcher = STEPS[step]
    if where == "coolify":
        ctx = make_ctx(coolify_transport=CrashingCoolify(fake.transport(), matcher))
        with pytest.raises(Crash):
            await rotate(ctx, tenant, "chat", only=[ROTATED])
        return
    transport = CrashingPocketBase(matcher)
    async with PocketBase(pocketbase.url, pocketbase.email, pocketbase.password, transport=transport) as pb:
        with pytest.raises(Crash):
            await rotate(make_ctx(pocketbase=pb), tenant, "chat", only=[ROTATED])
    assert transport.crashed


@pytest.mark.parametrize("recovery", ["rerun", "functions"])
@pytest.mark.parametrize("step", list(STEPS))
async def test_a_crash_at_any_step_converges_to_one_rotation(
    make_ctx: ContextFactory,
    coolify_fake: FakeCoolify,
    pocketbase: PocketBaseServer,
    pb: PocketBase,
    step: str,
    recovery: str,
) -> None:
    """LiteLLM's master key (with Open WebUI's two variables derived from it) is rotated; the process dies
    at ``step``; a re-run of the same command, or the event functions, finish it."""
    await create_tenant(make_ctx(), "globex", plan="team", name="Globex")
    provisioned = await provision(
        make_ctx(),
        ProvisionRequest(tenant="globex", template="llm-workspace", stack="chat", params=WORKSPACE),
    )
    uuid = provisioned.service_uuid
    original = (await secrets_of(pb, "chat"))[ROTATED]

    await crashed_rotation(make_ctx, coolify_fake, pocketbase, step, "globex")

    pending = (await stack_record(pb, "chat"))["rotation_pending"]
    assert pending is not None and list(pending["secrets"]) == [ROTATED]
    after_crash = (await secrets_of(pb, "chat"))[ROTATED]
    assert (after_crash == original) == (step == "before_store")

    result: RotateResult
    if recovery == "rerun":
        result = await rotate(make_ctx(), "globex", "chat", only=[ROTATED])
    else:
        result = await finish_rotation(make_ctx(), "globex", "chat", wait=True)

    final = (await secrets_of(pb, "chat"))[ROTATED]
    assert final != original
    if step != "before_store":  # the crashed run's values were stored: they are the ones finished
        assert final == after_crash
        assert result.finished == [ROTATED]
    assert result.rotated == [ROTATED] and result.status == "running"
    webui = coolify_fake.container(uuid, "open-webui").environment
    litellm = coolify_fake.container(uuid, "litellm").environment
    assert webui["OPENAI_API_KEY"] == webui["RAG_OPENAI_API_KEY"] == litellm["LITELLM_MASTER_KEY"] == final
    assert original not in json.dumps(coolify_fake.env_values(uuid))
    await assert_consistent(make_ctx, pb, coolify_fake, "chat")
    completed = [e for e in await records(pb, "audit_events") if e["action"] == "rotate.completed"]
    assert [e["details"]["secrets"] for e in completed] == [[ROTATED]]


async def test_finishing_without_a_pending_rotation_changes_nothing(
    make_ctx: ContextFactory, coolify_fake: FakeCoolify, pb: PocketBase
) -> None:
    """The event functions' call on a stack with nothing pending: no write, no Coolify call."""
    await create_tenant(make_ctx(), "globex", plan="team", name="Globex")
    await provision(
        make_ctx(),
        ProvisionRequest(tenant="globex", template="llm-workspace", stack="chat", params=WORKSPACE),
    )
    before: dict[str, Any] = {c: await records(pb, c) for c in ("stacks", "stack_secrets")}
    writes = len(coolify_fake.write_calls)
    result = await finish_rotation(make_ctx(), "globex", "chat")
    assert result.rotated == [] and not result.restarted
    assert {c: await records(pb, c) for c in ("stacks", "stack_secrets")} == before
    assert len(coolify_fake.write_calls) == writes


async def test_a_secret_parameter_lost_in_a_crash_is_reported_not_invented(
    make_ctx: ContextFactory, coolify_fake: FakeCoolify, pocketbase: PocketBaseServer, pb: PocketBase
) -> None:
    """A new Router key died with its process before it was stored: finishing cannot know it, so it
    changes nothing, clears the marker and says to pass the key again."""
    await create_tenant(make_ctx(), "globex", plan="team", name="Globex")
    await provision(
        make_ctx(),
        ProvisionRequest(tenant="globex", template="llm-workspace", stack="chat", params=WORKSPACE),
    )
    before = await secrets_of(pb, "chat")
    transport = CrashingPocketBase(writing("stack_secrets"))
    async with PocketBase(
        pocketbase.url, pocketbase.email, pocketbase.password, transport=transport
    ) as crashing:
        with pytest.raises(Crash):
            await rotate(
                make_ctx(pocketbase=crashing),
                "globex",
                "chat",
                params={"router_api_key": "sk-lost-0000000000001"},
            )
    writes = len(coolify_fake.write_calls)
    result = await finish_rotation(make_ctx(), "globex", "chat")
    assert (result.rotated, result.not_rotated) == ([], ["router_api_key"])
    assert any("--param router_api_key=@FILE" in note for note in result.notes)
    assert await secrets_of(pb, "chat") == before
    assert (await stack_record(pb, "chat"))["rotation_pending"] is None
    assert len(coolify_fake.write_calls) == writes
    failed = [e for e in await records(pb, "audit_events") if e["action"] == "rotate.failed"]
    assert failed[-1]["details"]["not_rotated"] == ["router_api_key"]
