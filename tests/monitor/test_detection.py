"""Tests for monitor.detection: event sequences → findings, with a fake inspector (no Docker)."""

from __future__ import annotations

import pytest

from monitor.detection import Detection, DetectionSettings
from monitor.directory import StaticDirectory
from monitor.events import DiskUsageMeasured, OomWaitEnded, StreamConnected, VolumeMeasured, VolumesMeasured
from monitor.findings import Finding, Kind
from tests.monitor.fakes import LABELS, T0, FakeInspector, event, snapshot

pytestmark = pytest.mark.anyio
CID = "c" * 64


def handler(inspector: FakeInspector) -> Detection:
    return Detection(inspector, StaticDirectory(), DetectionSettings(loop_threshold=3, loop_window=600))


async def found(h: Detection, ev: object) -> list[Finding]:
    return (await h.container_event(ev)).findings  # type: ignore[arg-type]


def firing(findings: list[Finding]) -> list[Kind]:
    return [f.kind for f in findings if f.firing]


async def test_kill_then_die_is_an_operator_stop_with_no_alert() -> None:
    """docker stop: kill, die 137 → only the (harmless) end of any unhealthy incident."""
    inspector = FakeInspector({CID: snapshot(exit_code=137)})
    h = handler(inspector)
    assert await found(h, event("kill", T0, signal="15")) == []
    findings = await found(h, event("die", T0 + 10))
    assert firing(findings) == []
    assert [(f.kind, f.firing) for f in findings] == [(Kind.CONTAINER_UNHEALTHY, False)]


async def test_oom_then_die_is_one_oom_finding_even_with_a_spoofed_exit_code() -> None:
    """The label exitCode=0 on the event is ignored; the kill comes from the oom event and inspect."""
    inspector = FakeInspector({CID: snapshot(exit_code=137, oom_killed=True, memory_limit_bytes=16 << 20)})
    h = handler(inspector)
    first = await h.container_event(event("oom", T0))
    assert first.findings == [] and first.later is not None
    wait, delay = first.later
    assert delay == 1.0 and wait == OomWaitEnded(container_id=CID, oom_time_nano=int(T0 * 1e9))
    for n in range(1, 5):
        assert (await h.container_event(event("oom", T0 + n * 0.001))).later is None
    [oom] = [f for f in await found(h, event("die", T0 + 0.06, exitCode="0")) if f.firing]
    assert oom.kind is Kind.OOM_KILLED and oom.evidence["exit_code"] == 137
    assert (await h.oom_wait_ended(wait)).findings == []


async def test_an_oom_without_a_death_is_a_process_kill_after_the_confirm_window() -> None:
    """No die within the window and the container runs: a process inside was killed."""
    inspector = FakeInspector({CID: snapshot(running=True, status="running")})
    h = handler(inspector)
    wait = (await h.container_event(event("oom", T0))).later
    assert wait is not None
    [killed] = (await h.oom_wait_ended(wait[0])).findings
    assert killed.kind is Kind.OOM_KILLED and "A process inside" in killed.detail
    assert (await h.oom_wait_ended(wait[0])).findings == []


async def test_restart_policy_deaths_become_one_loop_finding_not_crashes() -> None:
    """Deaths 1 and 2 of a restarting container say nothing; the third is a crash loop."""
    inspector = FakeInspector({CID: snapshot(exit_code=1, restart_policy="always")})
    h = handler(inspector)
    results = []
    for n in range(4):
        await found(h, event("start", T0 + n))
        results.append(firing(await found(h, event("die", T0 + n + 0.5))))
    assert results == [[], [], [Kind.CRASH_LOOP], [Kind.CRASH_LOOP]]


async def test_a_crash_without_restart_is_reported_and_removal_resolves_everything() -> None:
    """exit 3 with no restart: a crash; destroy: every container kind resolves."""
    inspector = FakeInspector({CID: snapshot(exit_code=3)})
    h = handler(inspector)
    assert firing(await found(h, event("die", T0))) == [Kind.CONTAINER_CRASHED]
    removed = await found(h, event("destroy", T0 + 1))
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
    [unhealthy] = await found(h, event("health_status: unhealthy"))
    assert unhealthy.firing and unhealthy.evidence["health_output"] == "db down"
    inspected = len(inspector.inspected)
    [resolved] = await found(h, event("health_status: healthy"))
    assert not resolved.firing and len(inspector.inspected) == inspected


async def test_an_unreachable_daemon_during_a_death_does_not_invent_a_crash() -> None:
    """Without inspect there is no trustworthy exit code: no crash finding (the re-check catches up)."""
    inspector = FakeInspector({CID: snapshot(exit_code=3)})
    inspector.down = True
    h = handler(inspector)
    assert firing(await found(h, event("die", T0))) == []


async def test_recheck_finds_gap_deaths_once_and_forgets_removed_containers() -> None:
    """A death after since_ns is judged once; a container that vanished ends its incidents."""
    inspector = FakeInspector({CID: snapshot(exit_code=5, finished_at_ns=int(T0 * 1e9))})
    h = handler(inspector)
    result = await h.recheck(since_ns=int((T0 - 10) * 1e9), now=T0 + 1)
    assert result is not None
    assert firing(result.findings) == [Kind.CONTAINER_CRASHED] and result.containers == {CID}
    again = await h.recheck(since_ns=int((T0 - 10) * 1e9), now=T0 + 2)
    assert again is not None and firing(again.findings) == []
    inspector.states.clear()
    gone = await h.recheck(since_ns=None, now=T0 + 3)
    assert gone is not None and gone.containers == set() and len(gone.findings) == 4
    assert all(f.quiet and not f.firing for f in gone.findings)
    inspector.down = True
    assert await h.recheck(since_ns=None, now=T0 + 4) is None


async def test_a_removed_crash_uses_the_event_exit_code_and_a_reload_signal_is_no_intent() -> None:
    """Gone before inspect: the die event's exitCode; a HUP before a death does not excuse it."""
    h = handler(FakeInspector({}))
    await found(h, event("start", T0))
    await found(h, event("kill", T0 + 1, signal="1"))
    [crashed] = [f for f in await found(h, event("die", T0 + 2, exitCode="3")) if f.firing]
    assert crashed.kind is Kind.CONTAINER_CRASHED
    assert crashed.evidence["exit_code"] == 3 and "die event" in str(crashed.evidence["exit_code_source"])


async def test_disks_volumes_and_gaps_are_detected_here() -> None:
    """The detection side turns measurements and a long stream loss into findings (no incident look-up)."""
    h = Detection(FakeInspector(), StaticDirectory(budgets=lambda t, p: 1000), DetectionSettings())
    full = DiskUsageMeasured(path="/data", total_bytes=100, used_bytes=95, free_bytes=5)
    assert [f.kind for f in h.disk(full, T0).findings] == [Kind.DISK_PRESSURE]
    volumes = VolumesMeasured(
        volumes=[VolumeMeasured(name="data", size_bytes=950, labels=dict(LABELS), container_labels=[])]
    )
    detected = h.volumes(volumes, T0)
    assert [f.kind for f in detected.findings] == [Kind.VOLUME_QUOTA]
    assert detected.volume_stacks == {("acme", "bot")}
    gap = h.stream_connected(StreamConnected(at=T0 + 30, since_ns=1, lost_at=T0))
    assert [f.kind for f in gap.findings] == [Kind.MONITOR_GAP]
