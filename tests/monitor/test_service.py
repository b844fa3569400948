"""End-to-end: a real Docker engine, the whole monitor, Apprise delivering to a local HTTP sink.

Each test waits for outcomes (generous timeouts, no timing assertions). "Exactly one" is asserted
after the containers were removed and the monitor has processed that removal and emptied its outbox.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from monitor.service import Monitor
from tests.monitor.conftest import docker_url, unique
from tests.monitor.containers import run, run_labels, tenant_labels, wait_exited
from tests.monitor.private_dockerd import PrivateDockerd
from tests.monitor.support import (
    RUN_ID,
    Sink,
    TcpToUnixForwarder,
    logged,
    processed,
    running,
    settings_for,
    wait_until,
)

pytestmark = pytest.mark.docker

TENANT = f"t{RUN_ID[:8]}"

RUNBOOKS = "https://runbooks.test/agents/runbooks/"


def ours(sink: Sink) -> list[dict[str, Any]]:
    """Messages about this test's containers: other test runs may share the engine (and their
    containers page too), so each test here uses a tenant of its own (see ``tenant()``)."""
    return [m for m in sink.messages() if TENANT in m["title"] or TENANT in m["message"]]


def titles(sink: Sink) -> list[str]:
    return [str(m["title"]) for m in ours(sink)]


def unhealthy_check(interval_ns: int = 500_000_000) -> dict[str, Any]:
    return {
        "test": ["CMD-SHELL", "cat /tmp/ok || (echo probe-failed: /tmp/ok is missing; exit 1)"],
        "interval": interval_ns,
        "timeout": 5_000_000_000,
        "retries": 1,
    }


def test_oom_kill_pages_once_with_tenant_stack_and_runbook(docker: Any, sink: Sink, tmp_path: Path) -> None:
    """A container exceeding its 16 MiB limit yields exactly one OOM page naming tenant and stack."""
    with capture_logs() as logs, running(Monitor(settings_for(tmp_path, sink))) as monitor:
        name = unique("cft-oom")
        container = run(
            docker,
            name,
            ["tail", "/dev/zero"],
            labels=tenant_labels(TENANT, "bot"),
            mem_limit="16m",
            memswap_limit="16m",
        )
        assert wait_exited(docker, container)["OOMKilled"] is True
        wait_until(lambda: sink.matching("OOM killed"), what="the OOM page")
        monitor.settle(logs, name, api=docker)
    pages = sink.matching("[CRITICAL] OOM killed")
    assert len(pages) == 1, sink.titles()
    assert f"tenant {TENANT} / stack bot" in pages[0]["title"]
    assert "16 MiB memory limit" in pages[0]["message"]
    assert f"{RUNBOOKS}oom-killed.md" in pages[0]["message"]


def test_unhealthy_pages_with_check_output_and_resolves_once(docker: Any, sink: Sink, tmp_path: Path) -> None:
    """A failing health check pages once with its output; passing again sends one resolved notice."""
    with capture_logs() as logs, running(Monitor(settings_for(tmp_path, sink))) as monitor:
        name = unique("cft-health")
        container = run(
            docker, name, ["sleep", "600"], labels=tenant_labels(TENANT, "web"), healthcheck=unhealthy_check()
        )
        wait_until(lambda: sink.matching("[CRITICAL] Container unhealthy"), what="the unhealthy page")
        exec_id = docker.exec_create(container, ["sh", "-c", "echo ok > /tmp/ok"])
        docker.exec_start(exec_id)
        wait_until(lambda: sink.matching("[RESOLVED] Container unhealthy"), what="the resolved notice")
        monitor.settle(logs, name, api=docker)
    pages = sink.matching("[CRITICAL] Container unhealthy", f"tenant {TENANT} / stack web")
    resolved = sink.matching("[RESOLVED] Container unhealthy", f"tenant {TENANT} / stack web")
    assert (len(pages), len(resolved)) == (1, 1), sink.titles()
    assert "probe-failed: /tmp/ok is missing" in pages[0]["message"]
    assert f"{RUNBOOKS}container-unhealthy.md" in pages[0]["message"]


def test_restart_loop_pages_one_crash_loop_not_one_per_restart(
    docker: Any, sink: Sink, tmp_path: Path
) -> None:
    """`restart: always` with `exit 1` gives one crash-loop page however often it restarts."""
    with capture_logs() as logs, running(Monitor(settings_for(tmp_path, sink))) as monitor:
        name = unique("cft-loop")
        container = run(
            docker,
            name,
            ["sh", "-c", "exit 1"],
            labels=tenant_labels(TENANT, "worker"),
            restart_policy={"Name": "always"},
        )
        wait_until(lambda: sink.matching("[CRITICAL] Crash loop"), what="the crash-loop page")
        wait_until(lambda: docker.inspect_container(container)["RestartCount"] >= 6, what="more restarts")
        wait_until(
            lambda: len(logged(logs, "monitor.container_died", container=name)) >= 6, what="deaths seen"
        )
        monitor.settle(logs, name, api=docker)
    assert len(sink.matching("[CRITICAL] Crash loop", f"tenant {TENANT} / stack worker")) == 1, sink.titles()
    assert not sink.matching("Container crashed"), sink.titles()
    assert len([t for t in titles(sink) if not t.startswith("[RESOLVED]")]) == 1, sink.titles()


def test_exit_code_comes_from_inspect_not_a_spoofing_label(docker: Any, sink: Sink, tmp_path: Path) -> None:
    """A container labelled exitCode=0 that exits 3 is reported as exit 3."""
    with capture_logs() as logs, running(Monitor(settings_for(tmp_path, sink))) as monitor:
        name = unique("cft-exit3")
        run(docker, name, ["sh", "-c", "exit 3"], labels=tenant_labels(TENANT, "job", exitCode="0"))
        wait_until(lambda: sink.matching("[CRITICAL] Container crashed"), what="the crash page")
        monitor.settle(logs, name, api=docker)
    pages = sink.matching("[CRITICAL] Container crashed", f"tenant {TENANT} / stack job")
    assert len(pages) == 1, sink.titles()
    assert "exited with code 3" in pages[0]["message"]
    assert "exit_code: 3" in pages[0]["message"]
    assert "code 0" not in pages[0]["message"]


def test_stop_of_a_sigterm_ignoring_container_is_not_an_oom(docker: Any, sink: Sink, tmp_path: Path) -> None:
    """`docker stop` ending in SIGKILL (exit 137, not OOM) sends nothing at all."""
    with capture_logs() as logs, running(Monitor(settings_for(tmp_path, sink))) as monitor:
        name = unique("cft-stop")
        container = run(docker, name, ["sleep", "600"], labels=tenant_labels(TENANT, "api"))
        docker.stop(container, timeout=1)
        state = docker.inspect_container(container)["State"]
        assert (state["ExitCode"], state["OOMKilled"]) == (137, False)
        wait_until(lambda: processed(logs, "stop", name), what="the stop event")
        monitor.settle(logs, name, api=docker)
    assert logged(logs, "monitor.container_died", container=name, cause="operator")
    assert ours(sink) == []


def test_operator_removals_send_nothing(docker: Any, sink: Sink, tmp_path: Path) -> None:
    """`docker rm -f` of running labelled containers is an operator action, not a crash."""
    names = [unique("cft-rm") for _ in range(5)]
    with capture_logs() as logs, running(Monitor(settings_for(tmp_path, sink))) as monitor:
        for name in names:
            run(docker, name, ["sleep", "600"], labels=tenant_labels(TENANT, "gone"))
        monitor.settle(logs, *names, api=docker)
    assert len(logged(logs, "monitor.container_died", cause="operator")) == len(names)
    assert ours(sink) == []


def test_burst_of_failures_is_one_page_and_one_summary(docker: Any, sink: Sink, tmp_path: Path) -> None:
    """Five containers crashing together: the first page at once, the other four in one summary."""
    settings = settings_for(tmp_path, sink, monitor_group_window_seconds=8.0)
    names = [unique("cft-burst") for _ in range(5)]
    with capture_logs() as logs, running(Monitor(settings)) as monitor:
        ids = [
            run(
                docker,
                name,
                ["sh", "-c", "sleep 1; exit 2"],
                labels=tenant_labels(TENANT, f"s{i}"),
                start=False,
            )
            for i, name in enumerate(names)
        ]
        for container in ids:
            docker.start(container)
        wait_until(lambda: len(sink.messages()) >= 2, what="the page and the summary")
        monitor.settle(logs, *names, api=docker)
    firing = [t for t in titles(sink) if not t.startswith("[RESOLVED]")]
    assert len(firing) == 2, sink.titles()
    assert firing[0].startswith("[CRITICAL] Container crashed")
    assert firing[1] == "[CRITICAL] 4 alert(s) on host testhost (grouped)"
    summary = sink.matching("(grouped)")[0]["message"]
    assert summary.count(f"Runbook: {RUNBOOKS}container-crashed.md") == 4


def test_monitor_restart_mid_incident_does_not_page_again(docker: Any, sink: Sink, tmp_path: Path) -> None:
    """Incidents survive a monitor restart: the re-check finds them firing already and sends nothing."""
    oom_name, sick_name, later_name = unique("cft-oom"), unique("cft-sick"), unique("cft-later")
    with capture_logs() as logs:
        with running(Monitor(settings_for(tmp_path, sink))):
            oom = run(
                docker,
                oom_name,
                ["tail", "/dev/zero"],
                labels=tenant_labels(TENANT, "bot"),
                mem_limit="16m",
                memswap_limit="16m",
            )
            run(
                docker,
                sick_name,
                ["sleep", "600"],
                labels=tenant_labels(TENANT, "web"),
                healthcheck=unhealthy_check(),
            )
            wait_exited(docker, oom)
            wait_until(
                lambda: sink.matching("OOM killed") and sink.matching("Container unhealthy"), what="pages"
            )
        before = titles(sink)
        with running(Monitor(settings_for(tmp_path, sink))) as second:
            wait_until(
                lambda: len(logged(logs, "monitor.rechecked", reason="start")) == 2, what="the second start"
            )
            run(docker, later_name, ["sh", "-c", "exit 4"], labels=tenant_labels(TENANT, "later"))
            wait_until(lambda: sink.matching("Container crashed"), what="a page from the restarted monitor")
            second.settle(logs, later_name, api=docker)
    assert len(sink.matching("[CRITICAL] OOM killed", TENANT)) == 1, sink.titles()
    assert len(sink.matching("[CRITICAL] Container unhealthy", TENANT)) == 1, sink.titles()
    assert titles(sink)[: len(before)] == before
    assert [t for t in titles(sink)[len(before) :] if not t.startswith("[RESOLVED]")] == [
        f"[CRITICAL] Container crashed — tenant {TENANT} / stack later"
    ]


def test_silenced_tenant_sends_nothing(
    docker: Any, sink: Sink, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`cfa monitor silence --tenant quiet --for 2h` holds that tenant's pages; others still page."""
    from monitor.cli import main

    monkeypatch.setenv("CFA_DATA_DIR", str(tmp_path))
    assert main(["silence", "--tenant", "quiet", "--for", "2h", "--reason", "upgrade"]) == 0
    structlog.reset_defaults()  # the CLI configured INFO-level JSON logs; the barrier needs debug events
    quiet, loud = unique("cft-quiet"), unique("cft-loud")
    with capture_logs() as logs, running(Monitor(settings_for(tmp_path, sink))) as monitor:
        run(docker, quiet, ["sh", "-c", "exit 3"], labels=tenant_labels("quiet", "bot"))
        run(docker, loud, ["sh", "-c", "exit 3"], labels=tenant_labels("loud", "bot"))
        wait_until(lambda: sink.matching("tenant loud"), what="the unsilenced tenant's page")
        wait_until(
            lambda: logged(logs, "monitor.notification_suppressed", tenant="quiet"), what="the silence"
        )
        monitor.settle(logs, quiet, loud, api=docker)
    assert not [m for m in sink.messages() if "quiet" in m["title"] or "quiet" in m["message"]]
    suppressed = logged(logs, "monitor.notification_suppressed", tenant="quiet")[0]
    assert "silence" in suppressed["reason"] and "tenant quiet" in suppressed["reason"]


def test_alert_waits_in_the_outbox_until_the_sink_is_back(docker: Any, tmp_path: Path) -> None:
    """With the Apprise endpoint down the page is retried from the outbox and delivered once it is up."""
    sink = Sink()
    sink.stop()
    try:
        with capture_logs() as logs, running(Monitor(settings_for(tmp_path, sink))) as monitor:
            name = unique("cft-down")
            run(docker, name, ["sh", "-c", "exit 7"], labels=tenant_labels(TENANT, "cron"))
            wait_until(lambda: logged(logs, "monitor.notification_failed"), what="a failed delivery")
            assert not monitor.outbox_empty()
            sink.start()
            wait_until(lambda: sink.matching("[CRITICAL] Container crashed"), what="the late delivery")
            monitor.settle(logs, name, api=docker)
        assert len(sink.matching("[CRITICAL] Container crashed", f"tenant {TENANT} / stack cron")) == 1, (
            sink.titles()
        )
        assert logged(logs, "monitor.notification_sent")[0]["attempts"] >= 2
    finally:
        sink.stop()


def test_oom_while_the_monitor_is_down_is_paged_after_it_starts(
    docker: Any, sink: Sink, tmp_path: Path
) -> None:
    """A death between two monitor runs is found by the start re-check and paged once."""
    name = unique("cft-oom-down")
    with capture_logs() as logs:
        with running(Monitor(settings_for(tmp_path, sink))) as first:
            warmup = unique("cft-warm")
            run(docker, warmup, ["true"], labels=tenant_labels(TENANT, "warm"))
            first.settle(logs, warmup, api=docker)
        oom = run(
            docker,
            name,
            ["tail", "/dev/zero"],
            labels=tenant_labels(TENANT, "bot"),
            mem_limit="16m",
            memswap_limit="16m",
        )
        wait_exited(docker, oom)
        with running(Monitor(settings_for(tmp_path, sink))) as second:
            wait_until(lambda: sink.matching("[CRITICAL] OOM killed"), what="the OOM page")
            second.settle(logs, name, api=docker)
    assert len(sink.matching("[CRITICAL] OOM killed", f"tenant {TENANT} / stack bot")) == 1, sink.titles()


def _tool(name: str) -> str:
    return shutil.which(name) or f"/usr/bin/{name}"


@pytest.fixture
def small_filesystem(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs this test controls (needs root, as in CI)."""
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    result = subprocess.run(
        [_tool("mount"), "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount_point)],
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        reason = f"cannot mount a tmpfs: {result.stderr.decode().strip()}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield mount_point
    finally:
        subprocess.run([_tool("umount"), str(mount_point)], check=False)


def _fill(path: Path, kib: int) -> None:
    path.write_bytes(bytes(kib * 1024))


def test_disk_threshold_pages_escalates_and_resolves(
    docker: Any, sink: Sink, tmp_path: Path, small_filesystem: Path
) -> None:
    """Crossing 80 % pages a warning, 90 % escalates to critical, freeing the space resolves it."""
    settings = settings_for(
        tmp_path, sink, monitor_disk_paths=[small_filesystem], monitor_disk_interval_seconds=0.2
    )
    with capture_logs() as logs, running(Monitor(settings)) as monitor:
        _fill(small_filesystem / "a", 3400)
        wait_until(lambda: sink.matching("[WARNING] Disk pressure"), what="the warning")
        _fill(small_filesystem / "b", 400)
        wait_until(lambda: sink.matching("[CRITICAL] Disk pressure"), what="the escalation")
        (small_filesystem / "a").unlink()
        (small_filesystem / "b").unlink()
        wait_until(lambda: sink.matching("[RESOLVED] Disk pressure"), what="the resolved notice")
        wait_until(monitor.outbox_empty, what="an empty outbox")
    assert logged(logs, "monitor.incident_escalated")
    titles = sink.titles()
    assert titles == [
        f"[WARNING] Disk pressure — host testhost — {small_filesystem}",
        f"[CRITICAL] Disk pressure — host testhost — {small_filesystem}",
        f"[RESOLVED] Disk pressure — host testhost — {small_filesystem}",
    ], titles
    assert f"{RUNBOOKS}disk-pressure.md" in sink.messages()[0]["message"]


@pytest.fixture
def private_dockerd(docker: Any) -> Iterator[PrivateDockerd]:
    """A dockerd of this test's own (the shared engine is never restarted); needs root, as in CI."""
    if os.geteuid() != 0 or shutil.which("dockerd") is None:
        reason = "a private dockerd needs root and the dockerd binary"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    daemon = PrivateDockerd()
    try:
        daemon.start()
        daemon.load_image_from(docker)
        yield daemon
    finally:
        daemon.remove()


def test_dockerd_restart_reconnects_reports_the_gap_once_and_catches_an_oom_in_it(
    sink: Sink, tmp_path: Path, private_dockerd: PrivateDockerd
) -> None:
    """After dockerd restarts, the monitor reconnects, reports one gap, and its re-check finds an OOM
    kill that happened while it was disconnected and that the daemon's replay buffer no longer holds."""
    gate = threading.Event()
    gate.set()

    def gated_client() -> Any:
        gate.wait()
        return private_dockerd.client()

    name = unique("cft-gap-oom")
    with (
        capture_logs() as logs,
        running(Monitor(settings_for(tmp_path, sink), docker_factory=gated_client)) as monitor,
    ):
        wait_until(lambda: logged(logs, "monitor.stream_connected"), what="the first connection")
        gate.clear()
        private_dockerd.stop()
        wait_until(lambda: logged(logs, "monitor.stream_lost"), what="the stream loss")
        private_dockerd.start()
        api = private_dockerd.client()
        oom = run(
            api,
            name,
            ["tail", "/dev/zero"],
            labels=tenant_labels(TENANT, "bot"),
            mem_limit="16m",
            memswap_limit="16m",
        )
        assert wait_exited(api, oom)["OOMKilled"] is True
        for i in range(150):  # 300 volume events push the OOM's events out of the 256-event buffer
            api.create_volume(f"cft-flood-{i}", labels=run_labels())
            api.remove_volume(f"cft-flood-{i}")
        gate.set()
        wait_until(lambda: sink.matching("[WARNING] Monitor gap"), what="the gap notice")
        wait_until(lambda: sink.matching("[CRITICAL] OOM killed"), what="the OOM found by the re-check")
        monitor.settle(logs, name, api=api)
        api.close()
    assert len(logged(logs, "monitor.stream_connected", reconnect=True)) == 1
    assert len(sink.matching("[WARNING] Monitor gap")) == 1, sink.titles()
    assert len(sink.matching("[CRITICAL] OOM killed", f"tenant {TENANT} / stack bot")) == 1, sink.titles()
    assert not processed(logs, "oom", name), "the OOM came from the replay, not the re-check"
    assert f"{RUNBOOKS}monitor-gap.md" in sink.matching("Monitor gap")[0]["message"]


def test_stack_volumes_over_the_plan_budget_page_a_volume_quota(
    docker: Any, sink: Sink, tmp_path: Path
) -> None:
    """Volume sizes from /system/df, summed per stack, against the template's budget for the plan."""
    from monitor.directory import StaticDirectory

    budgets = {("telegram-bot", "starter"): 1024 * 1024}
    directory = StaticDirectory(budgets=lambda template, plan: budgets.get((template, plan)))
    settings = settings_for(tmp_path, sink, monitor_volume_interval_seconds=0.5)
    volume = unique("cft-vol")
    docker.create_volume(volume, labels=run_labels())
    writer = unique("cft-writer")
    with capture_logs() as logs, running(Monitor(settings, directory=directory)) as monitor:
        container = run(
            docker,
            writer,
            ["sh", "-c", "dd if=/dev/zero of=/data/blob bs=1024 count=2048 && sleep 600"],
            labels=tenant_labels(TENANT, "files"),
            binds={volume: {"bind": "/data", "mode": "rw"}},
        )
        wait_until(
            lambda: sink.matching("[CRITICAL] Volume quota", TENANT, "stack files"),
            what="the page",
        )
        exec_id = docker.exec_create(container, ["rm", "/data/blob"])
        docker.exec_start(exec_id)
        wait_until(lambda: sink.matching("[RESOLVED] Volume quota"), what="the resolved notice")
        monitor.settle(logs, writer, api=docker)
    page = sink.matching("[CRITICAL] Volume quota")[0]["message"]
    assert "use 2 MiB, 200% of the plan's 1 MiB budget" in page and volume in page
    assert f"{RUNBOOKS}volume-quota.md" in page
    assert len(sink.matching("Volume quota")) == 2, sink.titles()


def test_the_monitor_works_through_a_tcp_docker_url(docker: Any, sink: Sink, tmp_path: Path) -> None:
    """`CFA_MONITOR_DOCKER_URL=tcp://…` (the compose file's socket proxy): events, inspect and pages work."""
    url = docker_url()
    if not url.startswith("unix://"):
        pytest.skip("needs the local unix socket to forward")
    forwarder = TcpToUnixForwarder(url.removeprefix("unix://"))
    settings = settings_for(tmp_path, sink, monitor_docker_url=f"tcp://127.0.0.1:{forwarder.port}")
    try:
        with capture_logs() as logs, running(Monitor(settings)) as monitor:
            name = unique("cft-tcp")
            run(docker, name, ["sh", "-c", "exit 9"], labels=tenant_labels(TENANT, "proxied"))
            wait_until(
                lambda: sink.matching("[CRITICAL] Container crashed", "stack proxied"), what="the page"
            )
            monitor.settle(logs, name, api=docker)
    finally:
        forwarder.close()
    assert "exited with code 9" in sink.matching("Container crashed")[0]["message"]
