"""Tests for monitor.pipeline: event sequences → findings, with a fake inspector (no Docker)."""

from __future__ import annotations

import pytest

from monitor.directory import StaticDirectory
from monitor.findings import Finding, Kind
from monitor.pipeline import DetectionSettings, EventHandler
from tests.monitor.fakes import T0, FakeInspector, event, snapshot

pytestmark = pytest.mark.anyio
CID = "c" * 64


def handler(inspector: FakeInspector) -> EventHandler:
    return EventHandler(inspector, StaticDirectory(), DetectionSettings(loop_threshold=3, loop_window=600))


def firing(findings: list[Finding]) -> list[Kind]:
    return [f.kind for f in findings if f.firing]


async def test_kill_then_die_is_an_operator_stop_with_no_alert() -> None:
    """docker stop: kill, die 137 → only the (harmless) end of any unhealthy incident."""
    inspector = FakeInspector({CID: snapshot(exit_code=137)})
    h = handler(inspector)
    assert await h.handle(event("kill", T0, signal="15")) == []
    findings = await h.handle(event("die", T0 + 10))
    assert firing(findings) == []
    assert [(f.kind, f.firing) for f in findings] == [(Kind.CONTAINER_UNHEALTHY, False)]


async def test_oom_then_die_is_one_oom_finding_even_with_a_spoofed_exit_code() -> None:
    """The label exitCode=0 on the event is ignored; the kill comes from the oom event and inspect."""
    inspector = FakeInspector({CID: snapshot(exit_code=137, oom_killed=True, memory_limit_bytes=16 << 20)})
    h = handler(inspector)
    for n in range(5):
        assert await h.handle(event("oom", T0 + n * 0.001)) == []
    [oom] = [f for f in await h.handle(event("die", T0 + 0.06, exitCode="0")) if f.firing]
    assert oom.kind is Kind.OOM_KILLED and oom.evidence["exit_code"] == 137
    assert await h.pending_ooms(T0 + 5) == []


async def test_an_oom_without_a_death_is_a_process_kill_after_the_confirm_window() -> None:
    """No die within the window and the container runs: a process inside was killed."""
    inspector = FakeInspector({CID: snapshot(running=True, status="running")})
    h = handler(inspector)
    await h.handle(event("oom", T0))
    assert await h.pending_ooms(T0 + 0.5) == []
    [found] = await h.pending_ooms(T0 + 1.5)
    assert found.kind is Kind.OOM_KILLED and "A process inside" in found.detail
    assert await h.pending_ooms(T0 + 3) == []


async def test_restart_policy_deaths_become_one_loop_finding_not_crashes() -> None:
    """Deaths 1 and 2 of a restarting container say nothing; the third is a crash loop."""
    inspector = FakeInspector({CID: snapshot(exit_code=1, restart_policy="always")})
    h = handler(inspector)
    results = []
    for n in range(4):
        await h.handle(event("start", T0 + n))
        results.append(firing(await h.handle(event("die", T0 + n + 0.5))))
    assert results == [[], [], [Kind.CRASH_LOOP], [Kind.CRASH_LOOP]]


async def test_a_crash_without_restart_is_reported_and_removal_resolves_everything() -> None:
    """exit 3 with no restart: a crash; destroy: every container kind resolves."""
    inspector = FakeInspector({CID: snapshot(exit_code=3)})
    h = handler(inspector)
    assert firing(await h.handle(event("die", T0))) == [Kind.CONTAINER_CRASHED]
    removed = await h.handle(event("destroy", T0 + 1))
    assert {f.kind for f in removed} == {
        Kind.CONTAINER_UNHEALTHY,
        Kind.OOM_KILLED,
        Kind.CONTAINER_CRASHED,
        Kind.CRASH_LOOP,
    }
    assert not any(f.firing for f in removed)


async def test_health_edges_use_inspect_and_healthy_resolves() -> None:
    """unhealthy → inspect for the output; healthy → resolve without inspecting."""
    inspector = FakeInspector(
        {CID: snapshot(running=True, health_status="unhealthy", health_output="db down")}
    )
    h = handler(inspector)
    [found] = await h.handle(event("health_status: unhealthy"))
    assert found.firing and found.evidence["health_output"] == "db down"
    inspected = len(inspector.inspected)
    [resolved] = await h.handle(event("health_status: healthy"))
    assert not resolved.firing and len(inspector.inspected) == inspected


async def test_an_unreachable_daemon_during_a_death_does_not_invent_a_crash() -> None:
    """Without inspect there is no trustworthy exit code: no crash finding (the re-check catches up)."""
    inspector = FakeInspector({CID: snapshot(exit_code=3)})
    inspector.down = True
    h = handler(inspector)
    assert firing(await h.handle(event("die", T0))) == []


async def test_recheck_finds_gap_deaths_once_and_forgets_removed_containers() -> None:
    """A death after since_ns is judged once; a container that vanished ends its incidents."""
    inspector = FakeInspector({CID: snapshot(exit_code=5, finished_at_ns=int(T0 * 1e9))})
    h = handler(inspector)
    result = await h.recheck(since_ns=int((T0 - 10) * 1e9), now=T0 + 1)
    assert result is not None
    findings, present = result
    assert firing(findings) == [Kind.CONTAINER_CRASHED] and present == {CID}
    again = await h.recheck(since_ns=int((T0 - 10) * 1e9), now=T0 + 2)
    assert again is not None and firing(again[0]) == []
    inspector.states.clear()
    gone = await h.recheck(since_ns=None, now=T0 + 3)
    assert gone is not None and gone[1] == set() and len(gone[0]) == 4 and not any(f.firing for f in gone[0])
    inspector.down = True
    assert await h.recheck(since_ns=None, now=T0 + 4) is None
