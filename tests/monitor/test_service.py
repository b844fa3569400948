"""End-to-end: a real Docker engine, the whole monitor, Apprise delivering to a local HTTP sink.

Each test waits for outcomes (generous timeouts, no timing assertions). "Exactly one" is asserted
after the containers were removed and the monitor has processed that removal and delivered every
message about them.

The engine is shared with other sessions, whose tenant containers page into each test's sink too:
every test uses a tenant of its own (the ``tenant`` fixture) and asserts only on messages about it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import structlog
from structlog.testing import capture_logs

from monitor.service import Monitor
from tests.monitor.conftest import docker_url, unique
from tests.monitor.containers import oom_kill, run, run_labels, tenant_labels
from tests.monitor.private_dockerd import PrivateDockerd
from tests.monitor.support import (
    Sink,
    TcpToUnixForwarder,
    logged,
    processed,
    running,
    settings_for,
    wait_until,
)

pytestmark = pytest.mark.docker

RUNBOOKS = "https://runbooks.test/agents/runbooks/"


def titles(sink: Sink, tenant: str) -> list[str]:
    """Titles of the messages about this test's tenant, in the order they arrived."""
    return [str(m["title"]) for m in sink.about(tenant)]


def unhealthy_check(interval_ns: int = 500_000_000) -> dict[str, Any]:
    """Fails until /tmp/ok exists. Three failures in a row make it unhealthy: on a busy shared engine a
    single probe can fail on its own (an exec that could not start counts as a failure), which with one
    retry would flip a healthy container back to unhealthy."""
    return {
        "test": ["CMD-SHELL", "cat /tmp/ok || (echo probe-failed: /tmp/ok is missing; exit 1)"],
        "interval": interval_ns,
        "timeout": 5_000_000_000,
        "retries": 3,
    }


def test_oom_kill_pages_once_with_tenant_stack_and_runbook(
    docker: Any, sink: Sink, tmp_path: Path, tenant: str
) -> None:
    """A container exceeding its 16 MiB limit yields exactly one OOM page naming tenant and stack."""
    with capture_logs() as logs, running(Monitor(settings_for(tmp_path, sink))) as monitor:
        name, stack = oom_kill(docker, tenant)
        wait_until(lambda: sink.about(tenant, stack), what="the OOM page")
        monitor.settle(logs, name, api=docker)
    assert [m["title"] for m in sink.about(tenant, stack)] == [
        f"[CRITICAL] OOM killed — tenant {tenant} / stack {stack}"
    ]
    [page] = sink.about(tenant, stack)
    assert "16 MiB memory limit" in page["message"]
    assert f"{RUNBOOKS}oom-killed.md" in page["message"]


def test_unhealthy_pages_with_check_output_and_resolves_once(
    docker: Any, sink: Sink, tmp_path: Path, tenant: str
) -> None:
    """A failing health check pages once with its output; passing again sends one resolved notice."""
    with capture_logs() as logs, running(Monitor(settings_for(tmp_path, sink))) as monitor:
        name = unique("cft-health")
        container = run(
            docker, name, ["sleep", "600"], labels=tenant_labels(tenant, "web"), healthcheck=unhealthy_check()
        )
        wait_until(lambda: sink.about(tenant, title="[CRITICAL]"), what="the unhealthy page")
        exec_id = docker.exec_create(container, ["sh", "-c", "echo ok > /tmp/ok"])
        docker.exec_start(exec_id)
        wait_until(lambda: sink.about(tenant, title="[RESOLVED]"), what="the resolved notice")
        monitor.settle(logs, name, api=docker)
    assert titles(sink, tenant) == [
        f"[CRITICAL] Container unhealthy — tenant {tenant} / stack web",
        f"[RESOLVED] Container unhealthy — tenant {tenant} / stack web",
    ], sink.about(tenant)
    page = sink.about(tenant)[0]
    assert "probe-failed: /tmp/ok is missing" in page["message"]
    assert f"{RUNBOOKS}container-unhealthy.md" in page["message"]


def test_restart_loop_pages_one_crash_loop_not_one_per_restart(
    docker: Any, sink: Sink, tmp_path: Path, tenant: str
) -> None:
    """`restart: always` with `exit 1` gives one crash-loop page however often it restarts."""
    with capture_logs() as logs, running(Monitor(settings_for(tmp_path, sink))) as monitor:
        name = unique("cft-loop")
        container = run(
            docker,
            name,
            ["sh", "-c", "exit 1"],
            labels=tenant_labels(tenant, "worker"),
            restart_policy={"Name": "always"},
        )
        wait_until(lambda: sink.about(tenant), what="the crash-loop page")
        wait_until(lambda: docker.inspect_container(container)["RestartCount"] >= 6, what="more restarts")
        wait_until(
            lambda: len(logged(logs, "monitor.container_died", container=name)) >= 6, what="deaths seen"
        )
        monitor.settle(logs, name, api=docker)
    assert titles(sink, tenant) == [f"[CRITICAL] Crash loop — tenant {tenant} / stack worker"]


def test_exit_code_comes_from_inspect_not_a_spoofing_label(
    docker: Any, sink: Sink, tmp_path: Path, tenant: str
) -> None:
    """A container labelled exitCode=0 that exits 3 is reported as exit 3."""
    with capture_logs() as logs, running(Monitor(settings_for(tmp_path, sink))) as monitor:
        name = unique("cft-exit3")
        run(docker, name, ["sh", "-c", "exit 3"], labels=tenant_labels(tenant, "job", exitCode="0"))
        wait_until(lambda: sink.about(tenant), what="the crash page")
        monitor.settle(logs, name, api=docker)
    assert titles(sink, tenant) == [f"[CRITICAL] Container crashed — tenant {tenant} / stack job"]
    [page] = sink.about(tenant)
    assert "exited with code 3" in page["message"]
    assert "exit_code: 3" in page["message"]
    assert "code 0" not in page["message"]


def test_stop_of_a_sigterm_ignoring_container_is_not_an_oom(
    docker: Any, sink: Sink, tmp_path: Path, tenant: str
) -> None:
    """`docker stop` ending in SIGKILL (exit 137, not OOM) sends nothing at all."""
    with capture_logs() as logs, running(Monitor(settings_for(tmp_path, sink))) as monitor:
        name = unique("cft-stop")
        container = run(docker, name, ["sleep", "600"], labels=tenant_labels(tenant, "api"))
        docker.stop(container, timeout=1)
        state = docker.inspect_container(container)["State"]
        assert (state["ExitCode"], state["OOMKilled"]) == (137, False)
        wait_until(lambda: processed(logs, "stop", name), what="the stop event")
        monitor.settle(logs, name, api=docker)
    assert logged(logs, "monitor.container_died", container=name, cause="operator")
    assert sink.about(tenant) == []


def test_operator_removals_send_nothing(docker: Any, sink: Sink, tmp_path: Path, tenant: str) -> None:
    """`docker rm -f` of running labelled containers is an operator action, not a crash."""
    names = [unique("cft-rm") for _ in range(5)]
    with capture_logs() as logs, running(Monitor(settings_for(tmp_path, sink))) as monitor:
        for name in names:
            run(docker, name, ["sleep", "600"], labels=tenant_labels(tenant, "gone"))
        monitor.settle(logs, *names, api=docker)
    deaths = [entry for entry in logged(logs, "monitor.container_died") if entry["container"] in names]
    assert sorted((entry["container"], entry["cause"]) for entry in deaths) == sorted(
        (name, "operator") for name in names
    )
    assert sink.about(tenant) == []


class Item(NamedTuple):
    """One incident as it reached the sink: in message number ``message``, alone or in a summary."""

    message: int
    grouped: bool
    text: str


def items_about(sink: Sink, tenant: str) -> list[Item]:
    """Every incident of this tenant that reached the sink, paged alone or as one item of a grouped
    summary. A summary may list other sessions' incidents too (the engine is shared): only this
    tenant's items are counted, never the total in the summary's title."""
    named = f"tenant {tenant} / "
    found: list[Item] = []
    for number, message in enumerate(sink.messages()):
        title, body = str(message["title"]), str(message["message"])
        if title.endswith("(grouped)"):
            blocks = body.split("\n• ")[1:]  # one block per item: its title, evidence line and runbook
            found += [Item(number, True, block) for block in blocks if named in block.split("\n", 1)[0]]
        elif named in title:
            found.append(Item(number, False, f"{title}\n{body}"))
    return found


def test_burst_of_failures_is_one_page_and_one_summary(
    docker: Any, sink: Sink, tmp_path: Path, tenant: str
) -> None:
    """Five containers crashing together reach on-call in at most two messages, never five: the first
    page of a burst at once, the rest folded into one summary that keeps each crash's exit code and
    runbook. (When another session's page opened the window just before, all five are in summaries.)"""
    settings = settings_for(tmp_path, sink, monitor_group_window_seconds=8.0)
    stacks = [f"s{i}" for i in range(5)]
    names = [unique("cft-burst") for _ in stacks]
    with capture_logs() as logs, running(Monitor(settings)) as monitor:
        ids = [
            run(
                docker,
                name,
                ["sh", "-c", "sleep 1; exit 2"],
                labels=tenant_labels(tenant, stack),
                start=False,
            )
            for name, stack in zip(names, stacks, strict=True)
        ]
        for container in ids:
            docker.start(container)
        wait_until(lambda: len(items_about(sink, tenant)) >= len(stacks), what="every crash to be sent")
        monitor.settle(logs, *names, api=docker)
    items = items_about(sink, tenant)
    crashed = re.compile(rf"^\[CRITICAL\] Container crashed — tenant {tenant} / stack (s\d)")
    assert sorted(crashed.findall(item.text)[0] for item in items) == stacks, items
    assert len({item.message for item in items}) <= 2, items
    summarised = [item.text for item in items if item.grouped]
    assert summarised, items
    for text in summarised:
        assert "exit_code 2" in text and f"Runbook: {RUNBOOKS}container-crashed.md" in text, text


def test_monitor_restart_mid_incident_does_not_page_again(
    docker: Any, sink: Sink, tmp_path: Path, tenant: str
) -> None:
    """Incidents survive a monitor restart: the re-check finds them firing already and sends nothing."""
    sick_name, later_name = unique("cft-sick"), unique("cft-later")
    with capture_logs() as logs:
        with running(Monitor(settings_for(tmp_path, sink))) as first:
            run(
                docker,
                sick_name,
                ["sleep", "600"],
                labels=tenant_labels(tenant, "web"),
                healthcheck=unhealthy_check(),
            )
            _, oom_stack = oom_kill(docker, tenant)
            wait_until(lambda: sink.about(tenant, oom_stack) and sink.about(tenant, "web"), what="both pages")
            wait_until(lambda: first.delivered(f"tenant {tenant} / "), what="nothing left to send")
        paged_before = len(sink.messages())
        with running(Monitor(settings_for(tmp_path, sink))) as second:
            wait_until(
                lambda: len(logged(logs, "monitor.rechecked", reason="start")) == 2, what="the second start"
            )
            run(docker, later_name, ["sh", "-c", "exit 4"], labels=tenant_labels(tenant, "later"))
            wait_until(lambda: sink.about(tenant, "later"), what="a page from the restarted monitor")
            second.settle(logs, later_name, api=docker)
    for stack, title in (
        (oom_stack, "[CRITICAL] OOM killed"),
        ("web", "[CRITICAL] Container unhealthy"),
        ("later", "[CRITICAL] Container crashed"),
    ):
        expected = f"{title} — tenant {tenant} / stack {stack}"
        assert [m["title"] for m in sink.about(tenant, stack)] == [expected]
    after = [m["title"] for m in sink.messages()[paged_before:] if f"tenant {tenant} / " in m["title"]]
    assert after == [f"[CRITICAL] Container crashed — tenant {tenant} / stack later"]


def test_silenced_tenant_sends_nothing(
    docker: Any, sink: Sink, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`cfa monitor silence --tenant quiet --for 2h` holds that tenant's pages; others still page."""
    from monitor.cli import main

    quiet_tenant, loud_tenant = unique("quiet"), unique("loud")
    monkeypatch.setenv("CFA_DATA_DIR", str(tmp_path))
    assert main(["silence", "--tenant", quiet_tenant, "--for", "2h", "--reason", "upgrade"]) == 0
    structlog.reset_defaults()  # the CLI configured INFO-level JSON logs; the barrier needs debug events
    quiet, loud = unique("cft-quiet"), unique("cft-loud")
    with capture_logs() as logs, running(Monitor(settings_for(tmp_path, sink))) as monitor:
        run(docker, quiet, ["sh", "-c", "exit 3"], labels=tenant_labels(quiet_tenant, "bot"))
        run(docker, loud, ["sh", "-c", "exit 3"], labels=tenant_labels(loud_tenant, "bot"))
        wait_until(lambda: sink.about(loud_tenant), what="the unsilenced tenant's page")
        wait_until(
            lambda: logged(logs, "monitor.notification_suppressed", tenant=quiet_tenant), what="the silence"
        )
        monitor.settle(logs, quiet, loud, api=docker)
    assert titles(sink, loud_tenant) == [f"[CRITICAL] Container crashed — tenant {loud_tenant} / stack bot"]
    assert [m for m in sink.messages() if quiet in m["title"] + m["message"]] == []
    assert sink.about(quiet_tenant) == []
    [suppressed] = logged(logs, "monitor.notification_suppressed", tenant=quiet_tenant)
    assert "silence" in suppressed["reason"] and f"tenant {quiet_tenant}" in suppressed["reason"]


def test_alert_waits_in_the_outbox_until_the_sink_is_back(docker: Any, tmp_path: Path, tenant: str) -> None:
    """With the Apprise endpoint down the page is retried from the outbox and delivered once it is up."""
    sink = Sink()
    sink.stop()
    try:
        with capture_logs() as logs, running(Monitor(settings_for(tmp_path, sink))) as monitor:
            name = unique("cft-down")
            run(docker, name, ["sh", "-c", "exit 7"], labels=tenant_labels(tenant, "cron"))
            wait_until(
                lambda: [e for e in logged(logs, "monitor.notification_failed") if tenant in e["title"]],
                what="a failed delivery of the page",
            )
            assert monitor.pending(name) == 1
            sink.start()
            wait_until(lambda: sink.about(tenant), what="the late delivery")
            monitor.settle(logs, name, api=docker)
        assert titles(sink, tenant) == [f"[CRITICAL] Container crashed — tenant {tenant} / stack cron"]
        [sent] = [e for e in logged(logs, "monitor.notification_sent") if tenant in e["title"]]
        assert sent["attempts"] >= 2
    finally:
        sink.stop()


def test_oom_while_the_monitor_is_down_is_paged_after_it_starts(
    docker: Any, sink: Sink, tmp_path: Path, tenant: str
) -> None:
    """A death between two monitor runs is found by the start re-check and paged once."""
    with capture_logs() as logs:
        with running(Monitor(settings_for(tmp_path, sink))) as first:
            warmup = unique("cft-warm")
            run(docker, warmup, ["true"], labels=tenant_labels(tenant, "warm"))
            first.settle(logs, warmup, api=docker)
        name, stack = oom_kill(docker, tenant)
        with running(Monitor(settings_for(tmp_path, sink))) as second:
            wait_until(lambda: sink.about(tenant), what="the OOM page")
            second.settle(logs, name, api=docker)
    assert titles(sink, tenant) == [f"[CRITICAL] OOM killed — tenant {tenant} / stack {stack}"]


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
    path = str(small_filesystem)

    def about_disk() -> list[dict[str, Any]]:  # this test's filesystem; others' containers page too
        return [m for m in sink.messages() if m["title"].endswith(f" — {path}")]

    with running(Monitor(settings)) as monitor:
        _fill(small_filesystem / "a", 3400)
        wait_until(lambda: about_disk(), what="the warning")
        _fill(small_filesystem / "b", 400)
        wait_until(lambda: len(about_disk()) >= 2, what="the escalation")
        (small_filesystem / "a").unlink()
        (small_filesystem / "b").unlink()
        wait_until(lambda: len(about_disk()) >= 3, what="the resolved notice")
        wait_until(lambda: monitor.delivered(path), what="every message about the filesystem")
    assert [m["title"] for m in about_disk()] == [
        f"[WARNING] Disk pressure — host testhost — {path}",
        f"[CRITICAL] Disk pressure — host testhost — {path}",
        f"[RESOLVED] Disk pressure — host testhost — {path}",
    ]
    assert f"{RUNBOOKS}disk-pressure.md" in about_disk()[0]["message"]


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
    sink: Sink, tmp_path: Path, private_dockerd: PrivateDockerd, tenant: str
) -> None:
    """After dockerd restarts, the monitor reconnects, reports one gap, and its re-check finds an OOM
    kill that happened while it was disconnected and that the daemon's replay buffer no longer holds."""
    gate = threading.Event()
    gate.set()

    def gated_client() -> Any:
        gate.wait()
        return private_dockerd.client()

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
        name, stack = oom_kill(api, tenant)
        for i in range(150):  # 300 volume events push the OOM's events out of the 256-event buffer
            api.create_volume(f"cft-flood-{i}", labels=run_labels())
            api.remove_volume(f"cft-flood-{i}")
        gate.set()
        wait_until(lambda: sink.matching("[WARNING] Monitor gap"), what="the gap notice")
        wait_until(lambda: sink.about(tenant), what="the OOM found by the re-check")
        monitor.settle(logs, name, api=api)
        api.close()
    # The private daemon runs only this test's containers: every message in the sink is this test's.
    assert len(logged(logs, "monitor.stream_connected", reconnect=True)) == 1
    assert len(sink.matching("[WARNING] Monitor gap")) == 1, sink.titles()
    assert [m["title"] for m in sink.about(tenant, stack)] == [
        f"[CRITICAL] OOM killed — tenant {tenant} / stack {stack}"
    ]
    assert not processed(logs, "oom", name), "the OOM came from the replay, not the re-check"
    assert f"{RUNBOOKS}monitor-gap.md" in sink.matching("Monitor gap")[0]["message"]


def test_stack_volumes_over_the_plan_budget_page_a_volume_quota(
    docker: Any, sink: Sink, tmp_path: Path, tenant: str
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
            labels=tenant_labels(tenant, "files"),
            binds={volume: {"bind": "/data", "mode": "rw"}},
        )
        wait_until(lambda: sink.about(tenant, "files"), what="the page")
        exec_id = docker.exec_create(container, ["rm", "/data/blob"])
        docker.exec_start(exec_id)
        wait_until(lambda: sink.about(tenant, "files", title="[RESOLVED]"), what="the resolved notice")
        monitor.settle(logs, writer, api=docker)
    assert titles(sink, tenant) == [
        f"[CRITICAL] Volume quota — tenant {tenant} / stack files",
        f"[RESOLVED] Volume quota — tenant {tenant} / stack files",
    ]
    page = sink.about(tenant)[0]["message"]
    assert "use 2 MiB, 200% of the plan's 1 MiB budget" in page and volume in page
    assert f"{RUNBOOKS}volume-quota.md" in page


def test_the_monitor_works_through_a_tcp_docker_url(
    docker: Any, sink: Sink, tmp_path: Path, tenant: str
) -> None:
    """`CFA_MONITOR_DOCKER_URL=tcp://…` (the compose file's socket proxy): events, inspect and pages work."""
    url = docker_url()
    if not url.startswith("unix://"):
        pytest.skip("needs the local unix socket to forward")
    forwarder = TcpToUnixForwarder(url.removeprefix("unix://"))
    settings = settings_for(tmp_path, sink, monitor_docker_url=f"tcp://127.0.0.1:{forwarder.port}")
    try:
        with capture_logs() as logs, running(Monitor(settings)) as monitor:
            name = unique("cft-tcp")
            run(docker, name, ["sh", "-c", "exit 9"], labels=tenant_labels(tenant, "proxied"))
            wait_until(lambda: sink.about(tenant), what="the page")
            monitor.settle(logs, name, api=docker)
    finally:
        forwarder.close()
    assert titles(sink, tenant) == [f"[CRITICAL] Container crashed — tenant {tenant} / stack proxied"]
    assert "exited with code 9" in sink.about(tenant)[0]["message"]
