"""End-to-end, against the real engine: deaths the monitor used to miss or misjudge.

Each test names the blind spot it closes. The containers are this test's own (a tenant of its own, unique
names and stacks); assertions only look at messages about them, since other sessions share the engine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from monitor.service import Monitor
from tests.monitor.conftest import new_client, unique
from tests.monitor.containers import run, run_labels, tenant_labels
from tests.monitor.support import Sink, logged, processed, running, settings_for, wait_until

pytestmark = pytest.mark.docker


class InspectsOnlyOnceRemoved:
    """A real docker-py client whose inspect of a watched container waits until Docker has removed it.

    It makes the race of ``--rm`` deterministic: the monitor's inspect after a ``die`` always finds the
    container already gone, as it did for 18-19 of 100 deaths in a burst.
    """

    def __init__(self, watched: set[str]) -> None:
        self._client = new_client()
        self._watched = watched

    def inspect_container(self, container: str) -> Any:
        if any(container.startswith(w) or w.startswith(container) for w in self._watched):
            probe = new_client()
            try:
                wait_until(lambda: not probe.containers(all=True, filters={"id": container}), what="removal")
            finally:
                probe.close()
        return self._client.inspect_container(container)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def firing_about(sink: Sink, tenant: str, stack: str) -> list[dict[str, Any]]:
    return [m for m in sink.about(tenant, stack) if not m["title"].startswith("[RESOLVED]")]


def resolved_about(sink: Sink, tenant: str, stack: str) -> list[dict[str, Any]]:
    return sink.about(tenant, stack, title="[RESOLVED]")


def test_a_crash_of_a_container_removed_on_exit_pages_with_the_event_exit_code(
    docker: Any, sink: Sink, tmp_path: Path, tenant: str
) -> None:
    """`--rm` that crashes: one page with the `die` event's exit code (said to come from the event), no
    "[RESOLVED] … removed" after it; a `--rm` that exits 0 and one that is stopped send nothing."""
    crash, clean, stopped = unique("crash"), unique("clean"), unique("stopped")
    watched: set[str] = set()
    settings = settings_for(tmp_path, sink)
    with (
        capture_logs() as logs,
        running(Monitor(settings, docker_factory=lambda: InspectsOnlyOnceRemoved(watched))) as monitor,
    ):
        ids = {
            stack: run(
                docker,
                unique(f"cft-rm-{stack}"),
                command,
                labels=tenant_labels(tenant, stack),
                auto_remove=True,
                start=False,
            )
            for stack, command in (
                (crash, ["sh", "-c", "sleep 1; exit 3"]),
                (clean, ["sh", "-c", "sleep 1; exit 0"]),
                (stopped, ["sleep", "600"]),
            )
        }
        watched.update(ids.values())
        for container in ids.values():
            docker.start(container)
        docker.stop(ids[stopped], timeout=1)
        wait_until(lambda: firing_about(sink, tenant, crash), what="the crash page")
        for container in ids.values():
            wait_until(
                lambda c=container: logged(logs, "monitor.event_processed", action="destroy", id=c[:12]),  # type: ignore[misc]
                what="the removals",
            )
        wait_until(lambda: logged(logs, "monitor.incident_resolved", stack=crash), what="the incident to end")
        wait_until(lambda: monitor.delivered(f"tenant {tenant} / "), what="every message about the tenant")
    [page] = firing_about(sink, tenant, crash)
    assert page["title"].startswith("[CRITICAL] Container crashed")
    assert "exited with code 3" in page["message"]
    assert "the die event" in page["message"]
    assert resolved_about(sink, tenant, crash) == []
    assert firing_about(sink, tenant, clean) == [] and firing_about(sink, tenant, stopped) == []


def test_a_reload_signal_is_not_an_operator_stop(
    docker: Any, sink: Sink, tmp_path: Path, tenant: str
) -> None:
    """`docker kill -s HUP` (a reload) does not excuse the crash that follows it; a TERM still does."""
    reloaded, stopped = unique("reloaded"), unique("termed")
    with capture_logs() as logs, running(Monitor(settings_for(tmp_path, sink))) as monitor:
        hup = run(
            docker, unique("cft-hup"), ["sh", "-c", "sleep 2; exit 3"], labels=tenant_labels(tenant, reloaded)
        )
        term = run(docker, unique("cft-term"), ["sleep", "600"], labels=tenant_labels(tenant, stopped))
        docker.kill(hup, signal="SIGHUP")
        docker.kill(term, signal="SIGTERM")  # PID 1 without a handler ignores it: stop it for real
        docker.kill(term, signal="SIGKILL")
        wait_until(lambda: firing_about(sink, tenant, reloaded), what="the crash page after the reload")
        wait_until(lambda: processed(logs, "die", _name(docker, term)), what="the killed container's death")
        monitor.settle(logs, _name(docker, hup), _name(docker, term), api=docker)
    [page] = firing_about(sink, tenant, reloaded)
    assert (
        page["title"].startswith("[CRITICAL] Container crashed") and "exited with code 3" in page["message"]
    )
    assert firing_about(sink, tenant, stopped) == []


def _name(api: Any, container: str) -> str:
    return str(api.inspect_container(container)["Name"]).lstrip("/")


def test_a_death_found_only_by_the_recheck_with_exit_137_is_a_crash(
    docker: Any, sink: Sink, tmp_path: Path, tenant: str
) -> None:
    """While the monitor is down a container exits 137 with no stop or kill; its events leave Docker's
    256-event buffer. The restarted monitor's re-check finds it and pages a crash, saying how it was found."""
    stack = unique("gap137")
    name = unique("cft-137")
    with capture_logs() as logs:
        with running(Monitor(settings_for(tmp_path, sink))) as first:
            warmup = unique("cft-warm")
            run(docker, warmup, ["true"], labels=tenant_labels(tenant, unique("warm")))
            first.settle(logs, warmup, api=docker)
        container = run(docker, name, ["sh", "-c", "exit 137"], labels=tenant_labels(tenant, stack))
        docker.wait(container, timeout=60)
        for i in range(150):  # 300 volume events push the death's events out of the daemon's buffer
            volume = f"{unique('cft-flood')}-{i}"
            docker.create_volume(volume, labels=run_labels())
            docker.remove_volume(volume)
        with running(Monitor(settings_for(tmp_path, sink))) as second:
            wait_until(lambda: firing_about(sink, tenant, stack), what="the crash page from the re-check")
            second.settle(logs, name, api=docker)
    assert not processed(logs, "die", name), "the death must come from the re-check, not the replay"
    [page] = firing_about(sink, tenant, stack)
    assert (
        page["title"].startswith("[CRITICAL] Container crashed") and "exited with code 137" in page["message"]
    )
    assert "re-check" in page["message"]
