"""The event functions under failure: a crash at every step of a provision, PocketBase restarting, a
short-lived superuser token, a stream dropped by the server, two replicas, a burst, SIGTERM. Each ends
with exactly one Coolify project and one service per stack."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.pocketbase.embedded import PocketBaseServer, start_server
from tests.fakes.coolify import FakeCoolify
from tests.monitor.support import wait_until
from tests.serve.conftest import StartServe
from tests.serve.harness import PB, bot_request, tenant_record
from tests.serve.proxy import CuttableProxy

# Every audit event of a provision from a tenant record, in order (the secrets arrive with the request).
STEPS = [
    "stacks.requested",
    "secrets.received",
    "provision.stack_recorded",
    "provision.project_created",
    "provision.service_created",
    "provision.envs_set",
    "provision.started",
]


def all_running(pbr: PB, count: int) -> bool:
    stacks = pbr.records("stacks")
    return len(stacks) == count and all(s["status"] == "running" for s in stacks)


def assert_one_each(fake: FakeCoolify, tenants: list[str], stack: str = "bot") -> None:
    assert sorted(p.name for p in fake.state.projects.values()) == sorted(f"cf-{t}" for t in tenants)
    for tenant in tenants:
        (service,) = fake.services_named(f"cf-{tenant}-{stack}")
        assert service.status == "running:healthy"
    assert len(fake.calls_to("POST", r"/api/v1/services$")) == len(tenants)
    assert len(fake.calls_to("POST", r"/api/v1/projects$")) == len(tenants)


@pytest.mark.parametrize("step", STEPS)
def test_a_crash_at_any_step_converges_to_one_of_each(
    step: str, start_serve: StartServe, pbr: PB, served_coolify: tuple[FakeCoolify, str]
) -> None:
    """SIGKILL right after the step's audit event; the restarted process finds what exists (the lock the
    dead process left included) and finishes with exactly one project and one service."""
    fake, _ = served_coolify
    first = start_serve(CFA_TEST_CRASH_AT=step).ready()
    pbr.create("tenants", tenant_record("acme", requested_stacks=[bot_request()]))
    first.process.wait(timeout=60)
    assert first.process.returncode == -signal.SIGKILL
    start_serve().ready()
    wait_until(lambda: all_running(pbr, 1), what="the stack to converge")
    assert_one_each(fake, ["acme"])


def test_records_written_while_pocketbase_restarts_are_handled(
    start_serve: StartServe,
    pbr: PB,
    pocketbase: PocketBaseServer,
    served_coolify: tuple[FakeCoolify, str],
    tmp_path: Path,
) -> None:
    """PocketBase goes away and comes back on the same address: the subscriber reconnects, its catch-up
    sweep finds what was written right after the restart."""
    fake, _ = served_coolify
    start_serve().ready()
    port = int(pocketbase.url.rsplit(":", 1)[1])
    os.kill(pocketbase.pid, signal.SIGTERM)
    wait_until(
        lambda: not Path(f"/proc/{pocketbase.pid}").exists() or _zombie(pocketbase.pid),
        what="PocketBase to stop",
    )
    restarted = start_server(tmp_path / "pb" / "pb_data", port, log_path=tmp_path / "pb-restarted.log")
    try:
        pbr.login()
        for slug in ("acme", "globex"):
            pbr.create("tenants", tenant_record(slug, requested_stacks=[bot_request()]))
        wait_until(lambda: all_running(pbr, 2), timeout=90, what="both tenants' stacks")
        assert_one_each(fake, ["acme", "globex"])
    finally:
        restarted.terminate()
        restarted.wait(10)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except OSError:
        return True


def test_events_keep_arriving_past_the_superuser_token_expiry(
    start_serve: StartServe, pbr: PB, pocketbase: PocketBaseServer, served_coolify: tuple[FakeCoolify, str]
) -> None:
    """With 10-second superuser tokens (PocketBase's minimum), work written after the first token
    expired, and after a reconnect that needs a fresh one, is still handled: a subscription POSTed with
    the expired token would be a guest's, receive nothing, and fail its probe."""
    fake, _ = served_coolify
    answer = pbr.http.patch(
        "/api/collections/_superusers",
        json={"authToken": {"duration": 10}},
        headers={"Authorization": pbr.token},
    )
    answer.raise_for_status()
    with CuttableProxy(int(pocketbase.url.rsplit(":", 1)[1])).running() as proxy:
        serve = start_serve(CFA_POCKETBASE_URL=proxy.url, CFA_REALTIME_PROBE_SECONDS="3").ready()
        time.sleep(12)
        pbr.login()
        pbr.create("tenants", tenant_record("acme", requested_stacks=[bot_request()]))
        wait_until(lambda: all_running(pbr, 1), what="acme's stack")
        time.sleep(11)
        proxy.cut()  # the reconnect must subscribe with a fresh token
        pbr.login()
        pbr.create("tenants", tenant_record("globex", requested_stacks=[bot_request()]))
        wait_until(lambda: all_running(pbr, 2), what="globex's stack")
    assert_one_each(fake, ["acme", "globex"])
    unproven = [e for e in serve.events() if e.get("reason") == "SubscriptionUnproven"]
    assert unproven == []
    assert sum(1 for e in serve.events() if e.get("event") == "realtime.subscribed") >= 2


def test_a_stream_dropped_by_the_server_is_resumed_and_nothing_is_missed(
    start_serve: StartServe, pbr: PB, pocketbase: PocketBaseServer, served_coolify: tuple[FakeCoolify, str]
) -> None:
    """The connection to PocketBase is cut and refused for a while; what was written meanwhile is
    found by the catch-up sweep once it is back."""
    fake, _ = served_coolify
    with CuttableProxy(int(pocketbase.url.rsplit(":", 1)[1])).running() as proxy:
        serve = start_serve(CFA_POCKETBASE_URL=proxy.url).ready()
        proxy.refusing = True
        proxy.cut()
        pbr.create("tenants", tenant_record("acme", requested_stacks=[bot_request()]))
        time.sleep(2)
        assert pbr.records("stacks") == []  # nothing could have been handled yet
        proxy.refusing = False
        wait_until(lambda: all_running(pbr, 1), timeout=90, what="acme's stack after the reconnect")
        assert_one_each(fake, ["acme"])
        assert any(e.get("event") == "realtime.caught_up" and e.get("records", 0) > 0 for e in serve.events())


def test_two_replicas_provision_each_stack_exactly_once(
    start_serve: StartServe, pbr: PB, served_coolify: tuple[FakeCoolify, str]
) -> None:
    """Two `cfa serve` on one PocketBase and one Coolify both see every event; the tenant lock lets one
    act, the other finds the work done. 20 tenants: 20 projects, 20 services, one start each."""
    fake, _ = served_coolify
    start_serve().ready()
    start_serve().ready()
    tenants = [f"tenant-{n:02d}" for n in range(20)]
    for slug in tenants:
        pbr.create("tenants", tenant_record(slug, requested_stacks=[bot_request()]))
    wait_until(lambda: all_running(pbr, 20), timeout=180, what="20 stacks running")
    assert_one_each(fake, tenants)
    assert all(s.starts == 1 and s.restarts == 0 for s in fake.state.services.values())


def test_a_burst_of_100_tenants_converges_within_the_rate_limit(
    start_serve: StartServe, pbr: PB, served_coolify: tuple[FakeCoolify, str]
) -> None:
    """100 tenant records at once: all converge, nothing duplicated, and the client's limiter keeps
    Coolify from ever answering 429 (limits scaled by 10 so the test takes seconds, not minutes)."""
    fake, _ = served_coolify
    fake.rate_limit_per_minute = 2000
    start_serve(CFA_COOLIFY_RATE_LIMIT_PER_MINUTE="1900").ready()
    tenants = [f"burst-{n:03d}" for n in range(100)]
    for slug in tenants:
        pbr.create("tenants", tenant_record(slug, requested_stacks=[bot_request()]))
    wait_until(lambda: all_running(pbr, 100), timeout=300, what="100 stacks running")
    assert_one_each(fake, tenants)
    assert [c for c in fake.calls if c.status == 429] == []


def test_sigterm_finishes_in_flight_work_releases_locks_and_exits_0(
    start_serve: StartServe, pbr: PB, served_coolify: tuple[FakeCoolify, str]
) -> None:
    """SIGTERM in the middle of a burst: intake stops, running handlers finish, no lock is left, exit 0;
    the next process completes the rest."""
    fake, _ = served_coolify
    fake.latency = 0.05
    serve = start_serve().ready()
    tenants = [f"tenant-{n:02d}" for n in range(10)]
    for slug in tenants:
        pbr.create("tenants", tenant_record(slug, requested_stacks=[bot_request()]))
    wait_until(lambda: fake.calls_to("POST", r"/api/v1/services$"), what="the first service create")
    assert serve.stop() == 0
    assert pbr.records("operation_locks") == []
    stopped = {e.get("event") for e in serve.events()}
    assert {"serve.stopping", "serve.stopped"} <= stopped
    fake.latency = 0.0
    start_serve().ready()
    wait_until(lambda: all_running(pbr, 10), timeout=120, what="the rest after a restart")
    assert_one_each(fake, tenants)


def test_health_readiness_and_metrics(
    start_serve: StartServe, pbr: PB, served_coolify: tuple[FakeCoolify, str]
) -> None:
    """/healthz is alive, /readyz says realtime and Coolify are fine, /metrics counts events, handler
    outcomes and latency, queue depth, reconnects and reconcile findings."""
    serve = start_serve().ready()
    pbr.create("tenants", tenant_record("acme", requested_stacks=[bot_request()]))
    wait_until(lambda: all_running(pbr, 1), what="acme's stack")
    assert httpx.get(f"{serve.url}/healthz").json() == {"status": "ok"}
    ready: dict[str, Any] = httpx.get(f"{serve.url}/readyz").json()
    assert ready == {"ready": True, "realtime": True, "coolify": True, "stopping": False}
    text = httpx.get(f"{serve.url}/metrics").text
    for needle in (
        'cfa_events_total{source="realtime",type="TenantRecordChanged"}',
        'cfa_handler_outcomes_total{handler="StackRecordChanged",outcome="ok"}',
        "cfa_handler_seconds_bucket",
        "cfa_queue_depth",
        "cfa_realtime_reconnects_total",
        "cfa_reconcile_coolify_calls 2.0",
    ):
        assert needle in text, needle
