"""The capacity guard on the operations: a provision or plan change the host budget has no room for is
refused before any Coolify write (nothing recorded, audited with resource, needed and free); claims
last while a stack is not deleted; new stacks go to the server with the most headroom; two concurrent
provisions never both take the last room."""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

import pytest

from functions.locks import LockHolder, acquire_lock
from functions.operations import capacity_claims
from functions.operations.capacity import capacity_report
from functions.operations.capacity_claims import CAPACITY_LOCK
from functions.operations.delete import delete
from functions.operations.provision import ProvisionRequest, ProvisionResult, provision
from functions.operations.suspend import suspend
from functions.operations.tenant_lifecycle import update_tenant
from functions.operations.tenants import create_tenant
from functions.progress import LogProgress
from shared.errors import CapacityError, ConfigurationError
from shared.pocketbase.client import PocketBase
from tests.fakes.coolify import FakeCoolify
from tests.functions.conftest import BOT_PARAMS, ROUTER_KEY, ContextFactory, records
from tests.logs import captured_logs

pytestmark = pytest.mark.anyio

MIB = 1024**2
GIB = 1024**3
EXACT = {"cpu": 1.0, "memory": 1.0, "disk": 1.0}  # no overcommit: the arithmetic is plain
OPENCLAW = {"router_api_key": ROUTER_KEY}
WORKSPACE = {"router_api_key": ROUTER_KEY, "admin_email": "ops@example.com"}


def budget(cpus: float, memory: str, disk: str = "0") -> dict[str, Any]:
    return {"default": {"cpus": cpus, "memory": memory, "disk": disk}}


def request(tenant: str, stack: str, template: str = "telegram-bot", **params: Any) -> ProvisionRequest:
    given = {**(BOT_PARAMS if template == "telegram-bot" else {}), **params}
    return ProvisionRequest(tenant=tenant, template=template, stack=stack, params=given)


@pytest.fixture
async def team(make_ctx: ContextFactory) -> str:
    """A team tenant ``acme`` (a telegram-bot claims 0.5 CPU and 384 MiB on team)."""
    await create_tenant(make_ctx(), "acme", plan="team", name="Acme GmbH")
    return "acme"


async def stacks_by_name(pb: PocketBase) -> dict[str, dict[str, Any]]:
    return {str(s["name"]): s for s in await records(pb, "stacks")}


async def test_a_provision_past_the_budget_is_refused_with_nothing_changed(
    make_ctx: ContextFactory, team: str, coolify_fake: FakeCoolify, pb: PocketBase
) -> None:
    """Two bots fill 1 CPU; the third is refused (exit 11) naming the server, CPU and memory short; no
    stack record, no Coolify write, and one audited refusal with resource, needed and free."""
    ctx = partial(make_ctx, capacity=budget(1, "1G"), capacity_overcommit=EXACT)
    await provision(ctx(), request("acme", "one"))
    await provision(ctx(), request("acme", "two"))
    writes = len(coolify_fake.write_calls)
    with captured_logs() as logs, pytest.raises(CapacityError) as refused:
        await provision(ctx(), request("acme", "three"))

    server = coolify_fake.servers[0]
    assert refused.value.exit_code == 11
    assert str(refused.value) == (
        f"no room on server localhost ({server.uuid}) for acme/three (telegram-bot, plan team): "
        "cpu needs 0.5 CPUs, 0 CPUs free of 1 CPU; memory needs 384.0 MiB, 256.0 MiB free of 1.0 GiB"
    )
    assert "cfa capacity" in refused.value.advice
    assert set(await stacks_by_name(pb)) == {"one", "two"}
    assert len(coolify_fake.write_calls) == writes
    (audit,) = [e for e in await records(pb, "audit_events") if e["outcome"] == "refused"]
    assert (audit["action"], audit["tenant"], audit["stack"]) == ("provision", "acme", "three")
    details = audit["details"]
    assert (details["error"], details["server"], details["resource"]) == ("CapacityError", server.uuid, "cpu")
    assert (details["needed"], details["free"], details["unit"]) == (500, 0, "millicores")
    memory = details["shortfalls"][server.uuid][1]
    assert (memory["resource"], memory["needed"], memory["free"]) == ("memory", 384 * MIB, 256 * MIB)
    assert any(e["event"] == "capacity.refused" for e in logs)


async def test_the_claim_is_recorded_with_the_intent_on_the_stack(
    make_ctx: ContextFactory, team: str, coolify_fake: FakeCoolify, pb: PocketBase
) -> None:
    """The stack record holds its server and its claim under its plan; the service is on that server."""
    result = await provision(make_ctx(capacity=budget(4, "4G")), request("acme", "bot"))
    stack = (await stacks_by_name(pb))["bot"]
    server = coolify_fake.servers[0]
    assert stack["server_uuid"] == server.uuid
    assert coolify_fake.service(result.service_uuid).server is server
    assert stack["reserved"] == {"cpus": 0.5, "memory_bytes": 384 * MIB, "volume_bytes": 0, "plan": "team"}
    recorded = next(e for e in await records(pb, "audit_events") if e["action"] == "provision.stack_recorded")
    assert recorded["details"]["server_uuid"] == server.uuid


async def test_stateful_stacks_are_limited_by_the_disk_budget(
    make_ctx: ContextFactory, team: str, pb: PocketBase
) -> None:
    """A 2 GiB disk budget takes one team OpenClaw agent (1.5 GiB volume budget), not two; stateless
    bots still fit beside it."""
    ctx = partial(make_ctx, capacity=budget(8, "8G", "2G"))
    await provision(ctx(), request("acme", "agent", "openclaw-agent", **OPENCLAW))
    with pytest.raises(CapacityError, match=r"disk needs 1\.5 GiB, 512\.0 MiB free of 2\.0 GiB"):
        await provision(ctx(), request("acme", "second", "openclaw-agent", **OPENCLAW))
    await provision(ctx(), request("acme", "bot"))
    assert set(await stacks_by_name(pb)) == {"agent", "bot"}


async def test_a_rerun_on_an_overfull_server_is_allowed_but_growing_is_not(
    make_ctx: ContextFactory, team: str, coolify_fake: FakeCoolify, pb: PocketBase
) -> None:
    """The budget was lowered below what runs: re-running a stack changes nothing and is not refused;
    switching its gateway to LiteLLM (one more service) is, and the stack stays as it was."""
    big = budget(8, "8G", "10G")
    first = await provision(make_ctx(capacity=big), request("acme", "chat", "llm-workspace", **WORKSPACE))
    small = budget(1, "1G", "1G")
    again = await provision(make_ctx(capacity=small), request("acme", "chat", "llm-workspace"))
    assert again.status == "running"
    writes = len(coolify_fake.write_calls)
    with pytest.raises(CapacityError, match=r"memory needs 3\.0 GiB"):
        await provision(make_ctx(capacity=small), request("acme", "chat", "llm-workspace", gateway="litellm"))
    assert len(coolify_fake.write_calls) == writes
    stack = (await stacks_by_name(pb))["chat"]
    assert stack["params"].get("gateway", "router") == "router"
    assert stack["reserved"]["memory_bytes"] == 2 * GIB
    assert "litellm" not in coolify_fake.deployed_compose(first.service_uuid)["services"]


async def test_a_suspended_stack_keeps_its_claim_and_a_deleted_one_frees_it(
    make_ctx: ContextFactory, team: str, pb: PocketBase
) -> None:
    """Suspending frees nothing (it can be resumed at any moment); once Coolify has removed a deleted
    stack, its room is free again."""
    ctx = partial(make_ctx, capacity=budget(1, "1G"), capacity_overcommit=EXACT)
    await provision(ctx(), request("acme", "one"))
    await provision(ctx(), request("acme", "two"))
    await suspend(ctx(), "acme", "two")
    with pytest.raises(CapacityError):
        await provision(ctx(), request("acme", "three"))
    await delete(ctx(), "acme", "two")
    assert (await stacks_by_name(pb))["two"]["reserved"] is None
    await provision(ctx(), request("acme", "three"))
    assert (await stacks_by_name(pb))["three"]["status"] == "running"


async def test_a_stack_recorded_before_claims_existed_still_counts(
    make_ctx: ContextFactory, team: str, pb: PocketBase
) -> None:
    """A running stack without a recorded claim counts with its template's reservation under its plan."""
    await provision(make_ctx(), request("acme", "old"))
    (old,) = await records(pb, "stacks")
    await pb.update_record("stacks", old["id"], {"reserved": None})
    with pytest.raises(CapacityError, match=r"memory needs 384\.0 MiB, 128\.0 MiB free of 512\.0 MiB"):
        await provision(make_ctx(capacity=budget(4, "512M")), request("acme", "new"))


async def test_a_plan_change_past_the_budget_changes_nothing(
    make_ctx: ContextFactory, acme: str, coolify_fake: FakeCoolify, pb: PocketBase
) -> None:
    """starter → team needs 384 MiB per bot where 640 MiB is the budget: refused, audited with the
    numbers, the tenant stays on starter and Coolify sees no write; a downgrade is never refused."""
    ctx = partial(make_ctx, capacity=budget(4, "640M"))
    await provision(ctx(), request("acme", "one"))
    await provision(ctx(), request("acme", "two"))
    writes = len(coolify_fake.write_calls)
    with pytest.raises(CapacityError, match=r"tenant acme's stacks under plan team: memory needs 768\.0 MiB"):
        await update_tenant(ctx(), "acme", plan="team")
    assert len(coolify_fake.write_calls) == writes
    assert (await records(pb, "tenants"))[0]["plan"] == "starter"
    stacks = await stacks_by_name(pb)
    assert {s["reserved"]["plan"] for s in stacks.values()} == {"starter"}
    refused = [e for e in await records(pb, "audit_events") if e["outcome"] == "refused"]
    assert [(e["action"], e["details"]["resource"], e["details"]["free"]) for e in refused] == [
        ("tenants.update", "memory", 640 * MIB)
    ]

    roomy = partial(make_ctx, capacity=budget(4, "1G"))
    result = await update_tenant(roomy(), "acme", plan="team")
    assert {o.status for o in result.stacks} == {"running"}
    assert {s["reserved"]["memory_bytes"] for s in (await stacks_by_name(pb)).values()} == {384 * MIB}
    down = await update_tenant(make_ctx(capacity=budget(0.1, "64M")), "acme", plan="starter")
    assert down.changed and {o.status for o in down.stacks} == {"running"}


async def test_a_new_stack_goes_to_the_server_with_the_most_headroom(
    make_ctx: ContextFactory, team: str, coolify_fake: FakeCoolify, pb: PocketBase
) -> None:
    """Two budgeted servers: each new bot goes where the most is left after placing it, recorded on
    the stack and used for its service; when neither has room, the refusal names the closest."""
    first = coolify_fake.servers[0]
    second = coolify_fake.add_server("worker-1", ip="10.0.0.2")
    budgets = {
        first.uuid: {"cpus": 1, "memory": "2G", "disk": "0"},
        second.uuid: {"cpus": 2, "memory": "2G", "disk": "0"},
    }
    ctx = partial(make_ctx, capacity=budgets, capacity_overcommit=EXACT)
    names = [f"bot{n}" for n in range(6)]
    placed = []
    for name in names:
        with captured_logs() as logs:
            result = await provision(ctx(), request("acme", name))
        placed.append(coolify_fake.service(result.service_uuid).server.name)
        assert next(e for e in logs if e["event"] == "capacity.placed")["candidates"] == 2
    # Headroom is the smallest free fraction after placing (CPU decides here; memory is 2 GiB each):
    # bot0: localhost 0.5, worker 0.75 → worker; bot1: 0.5 and 0.5, a tie → the first listed;
    # bot2: 0 and 0.5 → worker; bot3: 0 and 0.25 → worker; bot4: 0 and 0 → localhost; bot5: worker.
    assert placed == ["worker-1", "localhost", "worker-1", "worker-1", "localhost", "worker-1"]
    stacks = await stacks_by_name(pb)
    expected = {"worker-1": second.uuid, "localhost": first.uuid}
    assert [stacks[n]["server_uuid"] for n in names] == [expected[p] for p in placed]
    with pytest.raises(CapacityError, match="no room on any of the 2 servers for acme/bot6"):
        await provision(ctx(), request("acme", "bot6"))


async def test_the_pinned_server_takes_every_new_stack_and_existing_ones_stay(
    make_ctx: ContextFactory, team: str, coolify_fake: FakeCoolify, pb: PocketBase
) -> None:
    """CFA_COOLIFY_SERVER_UUID pins placement even when another server has more room; a stack with a
    service stays on its server when the pin changes."""
    first = coolify_fake.servers[0]
    second = coolify_fake.add_server("worker-1")
    budgets = {
        first.uuid: {"cpus": 1, "memory": "1G", "disk": "0"},
        second.uuid: {"cpus": 8, "memory": "8G", "disk": "0"},
    }
    pinned = await provision(
        make_ctx(capacity=budgets, coolify_server_uuid=first.uuid), request("acme", "pinned")
    )
    assert coolify_fake.service(pinned.service_uuid).server is first
    again = await provision(
        make_ctx(capacity=budgets, coolify_server_uuid=second.uuid),
        request("acme", "pinned", history_turns=5),
    )
    assert again.service_uuid == pinned.service_uuid
    assert (await stacks_by_name(pb))["pinned"]["server_uuid"] == first.uuid


async def test_budgets_for_none_of_the_usable_servers_are_a_configuration_error(
    make_ctx: ContextFactory, team: str, coolify_fake: FakeCoolify, pb: PocketBase
) -> None:
    with pytest.raises(ConfigurationError, match="CFA_CAPACITY has no budget for any usable server"):
        await provision(
            make_ctx(capacity={"no-such-server": budget(1, "1G")["default"]}), request("acme", "bot")
        )
    assert await records(pb, "stacks") == []
    assert coolify_fake.write_calls == []


async def test_a_pinned_server_without_a_budget_is_a_configuration_error(
    make_ctx: ContextFactory, team: str, coolify_fake: FakeCoolify, pb: PocketBase
) -> None:
    """Budgets are configured, but not for the pinned server: new stacks are refused as misconfigured
    (doctor says the same), not placed unchecked."""
    other = coolify_fake.add_server("worker-1")
    budgets = {other.uuid: budget(8, "8G")["default"]}
    pinned = coolify_fake.servers[0].uuid
    with pytest.raises(ConfigurationError, match=f"CFA_COOLIFY_SERVER_UUID={pinned} .* has no budget"):
        await provision(make_ctx(capacity=budgets, coolify_server_uuid=pinned), request("acme", "bot"))
    assert await records(pb, "stacks") == [] and coolify_fake.write_calls == []


async def test_without_a_budget_nothing_is_refused_and_it_is_logged_once(
    make_ctx: ContextFactory, team: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(capacity_claims, "_UNKNOWN_LOGGED", set())
    with captured_logs() as logs:
        for name in ("one", "two", "three"):
            await provision(make_ctx(), request("acme", name))
    assert [e["event"] for e in logs].count("capacity.unconfigured") == 1


async def test_a_dry_run_shows_the_refusal_too(make_ctx: ContextFactory, team: str, pb: PocketBase) -> None:
    with pytest.raises(CapacityError):
        await provision(
            make_ctx(dry_run=True, capacity=budget(0.25, "1G"), capacity_overcommit=EXACT),
            request("acme", "bot"),
        )
    assert await records(pb, "stacks") == []


class _WaitRecorder(LogProgress):
    """Progress that tells the test when an operation starts waiting for the capacity lock."""

    def __init__(self, waiting: asyncio.Queue[str]) -> None:
        super().__init__(every=0.0)
        self.waiting = waiting
        self.told = False

    def waiting_for_lock(self, tenant: str, holder: LockHolder, waited: float) -> None:
        super().waiting_for_lock(tenant, holder, waited)
        if tenant == "the capacity ledger" and not self.told:
            self.told = True
            self.waiting.put_nowait(tenant)


async def test_two_concurrent_provisions_never_both_take_the_last_room(
    make_ctx: ContextFactory, coolify_fake: FakeCoolify, pb: PocketBase
) -> None:
    """Two tenants' provisions (separate tenant locks, as two processes) both reach the capacity check
    while a third party holds the capacity lock; when it is released, exactly one wins and the other is
    refused: the check and the claim are one step."""
    for slug in ("acme", "globex"):
        await create_tenant(make_ctx(), slug, plan="team")
    waiting: asyncio.Queue[str] = asyncio.Queue()
    contexts = []
    for _ in range(2):
        ctx = make_ctx(capacity=budget(0.5, "1G"), capacity_overcommit=EXACT)
        ctx.progress = _WaitRecorder(waiting)
        contexts.append(ctx)
    blocker = await acquire_lock(pb, CAPACITY_LOCK, "test", what="the capacity ledger", advice="")
    runs = [
        asyncio.create_task(provision(contexts[0], request("acme", "bot"))),
        asyncio.create_task(provision(contexts[1], request("globex", "bot"))),
    ]

    async def both_waiting() -> None:
        await waiting.get()
        await waiting.get()

    async def both_ended() -> list[ProvisionResult | BaseException]:
        return await asyncio.gather(*runs, return_exceptions=True)

    barrier, finished = asyncio.create_task(both_waiting()), asyncio.create_task(both_ended())
    await asyncio.wait([barrier, finished], return_when=asyncio.FIRST_COMPLETED)
    assert barrier.done(), "both provisions ended without ever waiting for the capacity lock"
    await blocker.release()
    outcomes = await finished

    refused = [o for o in outcomes if isinstance(o, CapacityError)]
    won = [o for o in outcomes if not isinstance(o, BaseException)]
    assert len(refused) == 1 and len(won) == 1, outcomes
    assert [s["name"] for s in await records(pb, "stacks")] == ["bot"]
    assert len(coolify_fake.calls_to("POST", r"/api/v1/services$")) == 1


async def test_the_report_shows_allocated_budget_and_what_still_fits(
    make_ctx: ContextFactory, team: str, coolify_fake: FakeCoolify
) -> None:
    """Per server and resource: allocated / budget with the overcommit; per template and plan: how many
    more fit, each claiming all its services and its volume budget."""
    ctx = partial(make_ctx, capacity=budget(2, "4G", "10G"))
    await provision(ctx(), request("acme", "bot"))
    await provision(ctx(), request("acme", "agent", "openclaw-agent", **OPENCLAW))
    report = await capacity_report(ctx())
    (server,) = report.servers
    lines = {line.resource: line for line in server.resources}
    assert (server.coolify, server.new_stacks, server.budget_source) == ("usable", True, "default")
    assert sorted(server.stacks) == ["acme/agent", "acme/bot"]
    assert (lines["cpu"].allocated, lines["cpu"].budget, lines["cpu"].capacity, lines["cpu"].free) == (
        1.5,
        2.0,
        4.0,
        2.5,
    )
    assert lines["memory"].allocated == (384 + 128 + 768) * MIB
    assert lines["disk"].free == 10 * GIB - 1536 * MIB
    fits = {(f.template, f.plan): f.fits for f in report.fits}
    # llm-workspace on team: 2 CPUs, 3 GiB, 5 GiB — memory leaves 2.75 GiB: none.
    assert fits[("llm-workspace", "team")] == 0
    assert fits[("telegram-bot", "team")] == 5  # cpu: 2.5 // 0.5
    assert fits[("openclaw-agent", "team")] == 2  # cpu: 2.5 // 1.0 and memory 2.75 GiB // 896 MiB = 3
    assert report.configured and report.notes == []


async def test_the_report_says_when_capacity_is_unknown(make_ctx: ContextFactory, team: str) -> None:
    await provision(make_ctx(), request("acme", "bot"))
    report = await capacity_report(make_ctx())
    assert not report.configured
    assert {f.fits for f in report.fits} == {None}
    assert report.servers[0].resources[0].allocated == 0.5
    assert any("capacity is unknown" in note for note in report.notes)


async def test_the_report_without_an_answer_from_coolify_shows_the_configured_servers(
    make_ctx: ContextFactory, team: str, coolify_fake: FakeCoolify
) -> None:
    """Coolify down: the budgeted and claimed servers are still shown, their state unknown to Coolify."""
    server = coolify_fake.servers[0].uuid
    await provision(make_ctx(capacity=budget(4, "4G")), request("acme", "bot"))
    coolify_fake.inject("GET", r"/servers$", "error_500_before", times=None)
    report = await capacity_report(make_ctx(capacity={server: budget(4, "4G")["default"]}))
    assert [(s.uuid, s.coolify, s.new_stacks, s.stacks) for s in report.servers] == [
        (server, "unknown (Coolify did not say)", False, ["acme/bot"])
    ]
    assert report.notes == [
        "Coolify did not answer (UnavailableError): servers are shown from the configuration"
    ]
