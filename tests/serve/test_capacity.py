"""The capacity guard through `cfa serve`: two replicas, two tenants' requested stacks and room for one.
The capacity lock is shared by the processes through PocketBase: exactly one stack runs, the other is
failed once with the reason and one alert, and Coolify never gets its service."""

from __future__ import annotations

from tests.fakes.coolify import FakeCoolify
from tests.monitor.support import wait_until
from tests.serve.conftest import Sink, StartServe
from tests.serve.harness import PB, bot_request, tenant_record

ROOM_FOR_ONE_BOT = {
    "CFA_CAPACITY": '{"default": {"cpus": 0.25, "memory": "400M", "disk": "0"}}',
    "CFA_CAPACITY_OVERCOMMIT": '{"cpu": 1.0}',
}


def test_two_replicas_never_both_take_the_last_room(
    start_serve: StartServe, pbr: PB, served_coolify: tuple[FakeCoolify, str], sink: Sink
) -> None:
    fake, _ = served_coolify
    start_serve(CFA_APPRISE_URLS=sink.url, **ROOM_FOR_ONE_BOT).ready()
    start_serve(CFA_APPRISE_URLS=sink.url, **ROOM_FOR_ONE_BOT).ready()
    for slug in ("acme", "globex"):
        pbr.create("tenants", tenant_record(slug, requested_stacks=[bot_request()]))

    def settled() -> list[dict[str, object]] | None:
        stacks = pbr.records("stacks")
        done = len(stacks) == 2 and {str(s["status"]) for s in stacks} == {"running", "failed"}
        return stacks if done else None

    stacks = wait_until(settled, what="one stack running and one failed")
    assert stacks is not None
    (failed,) = [s for s in stacks if s["status"] == "failed"]
    (running,) = [s for s in stacks if s["status"] == "running"]
    assert str(failed["last_error"]).startswith("no room on server localhost")
    assert "cpu needs 0.25 CPUs, 0 CPUs free of 0.25 CPUs" in str(failed["last_error"])
    assert running["server_uuid"] == fake.servers[0].uuid and failed["reserved"] is None
    assert len(fake.calls_to("POST", r"/api/v1/services$")) == 1
    wait_until(lambda: sink.matching("failed"), what="the alert")
    (alert,) = sink.matching("failed")
    assert "runbooks/capacity-exceeded.md" in str(alert)
    assert len(pbr.audit("functions.gave_up")) == 1
