"""The event functions finish a secret rotation whose process died: Coolify is never left serving the
old values while the store holds the new ones."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from functions.dispatch import Dispatcher
from functions.operations.provision import ProvisionRequest, provision
from functions.operations.rotate import rotate
from functions.runtime import Runtime
from functions.sources.reconciler import Reconciler
from shared.pocketbase.client import PocketBase
from shared.pocketbase.embedded import PocketBaseServer
from tests.cli.conftest import CfaProcess, cfa_environment
from tests.fakes.coolify import FakeCoolify
from tests.functions.conftest import ROUTER_KEY, ContextFactory, records
from tests.functions.test_rotate_crash import Crash, CrashingCoolify, coolify_call
from tests.monitor.support import wait_until
from tests.serve.conftest import StartServe
from tests.serve.harness import PB, tenant_record

TOKENS = ["OPENCLAW_GATEWAY_TOKEN", "OPENCLAW_HOOKS_TOKEN"]


@pytest.mark.anyio
async def test_the_reconciler_finds_an_unfinished_rotation_and_its_handler_finishes_it(
    runtime: tuple[Runtime, Dispatcher],
    make_ctx: ContextFactory,
    acme: str,
    coolify_fake: FakeCoolify,
    pb: PocketBase,
) -> None:
    """The new tokens were stored, then the process died before Coolify got them: the next reconcile
    pass hands the stack to its handler, which pushes what is stored and restarts it."""
    rt, dispatcher = runtime
    result = await provision(
        make_ctx(),
        ProvisionRequest(
            tenant="acme", template="openclaw-agent", stack="agent", params={"router_api_key": ROUTER_KEY}
        ),
    )
    crashing = CrashingCoolify(coolify_fake.transport(), coolify_call("PATCH", "/envs/bulk"))
    with pytest.raises(Crash):
        await rotate(make_ctx(coolify_transport=crashing), "acme", "agent")
    (stored,) = [s["values"] for s in await records(pb, "stack_secrets")]
    assert (
        coolify_fake.env_values(result.service_uuid)["OPENCLAW_GATEWAY_TOKEN"]
        != stored["OPENCLAW_GATEWAY_TOKEN"]
    )

    report = await Reconciler(rt).reconcile_once()
    await dispatcher.wait_idle()

    assert report.drift == {"rotation_pending": 1}
    container = coolify_fake.container(result.service_uuid, "openclaw").environment
    assert {t: container[t] for t in TOKENS} == {t: stored[t] for t in TOKENS}
    (record,) = await records(pb, "stacks")
    assert record["status"] == "rotating" and record["rotation_pending"]["pushed"] is True
    assert (await Reconciler(rt).reconcile_once()).drift == {}


def test_a_killed_cfa_rotate_is_finished_by_cfa_serve(
    start_serve: StartServe,
    pbr: PB,
    pocketbase: PocketBaseServer,
    served_coolify: tuple[FakeCoolify, str],
    tmp_path: Path,
) -> None:
    """`cfa rotate` is SIGKILLed right after it stored the new tokens; `cfa serve`, told by the record
    change, takes over the dead process's lock, pushes the stored tokens, restarts the stack and settles
    it running, with nothing pending."""
    fake, url = served_coolify
    start_serve().ready()
    requested = {"template": "openclaw-agent", "name": "agent", "params": {"router_api_key": ROUTER_KEY}}
    tenant = pbr.create("tenants", tenant_record("acme", requested_stacks=[requested]))
    wait_until(
        lambda: (s := pbr.stack(tenant["id"], "agent")) and s["status"] == "running", what="acme/agent"
    )
    before = pbr.records("stack_secrets")[0]["values"]

    cli = CfaProcess(cfa_environment(pocketbase, str(tmp_path / "cli-data"), url))
    killed = cli.run("rotate", "acme/agent", CFA_TEST_CRASH_AT="rotate.secrets_stored")
    assert killed.returncode == -signal.SIGKILL

    def finished() -> bool:
        stack = pbr.stack(tenant["id"], "agent") or {}
        return stack.get("status") == "running" and stack.get("rotation_pending") is None

    wait_until(finished, timeout=90, what="cfa serve to finish the rotation")
    stored = pbr.records("stack_secrets")[0]["values"]
    stack = pbr.stack(tenant["id"], "agent")
    assert stack is not None
    uuid = stack["coolify_service_uuid"]
    assert all(stored[t] != before[t] for t in TOKENS)
    container = fake.container(uuid, "openclaw").environment
    assert {t: container[t] for t in TOKENS} == {t: stored[t] for t in TOKENS}
    assert [e["details"]["secrets"] for e in pbr.audit("rotate.completed")] == [TOKENS]
