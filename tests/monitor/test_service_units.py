"""Monitor wiring without Docker: the bounded queue, the health verdict, stopping."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from monitor import service
from monitor.events import RecheckRequested
from monitor.service import Monitor
from tests.monitor.fakes import event
from tests.monitor.support import MonitorThread, settings_for, wait_until


def never() -> object:
    raise AssertionError("no Docker client is needed here")


@pytest.mark.anyio
async def test_a_full_queue_drops_events_and_asks_for_a_recheck_since_the_first_dropped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Beyond MAX_QUEUE events are counted as dropped and the first one's time is kept for the re-check."""
    monkeypatch.setattr(service, "MAX_QUEUE", 2)
    monitor = Monitor(settings_for(tmp_path, None), docker_factory=never)
    monitor._queue = asyncio.Queue()
    for n in range(4):
        monitor._enqueue(event("die", 1000.0 + n))
    assert monitor._queue.qsize() == 2
    assert monitor.metrics.events_dropped._value.get() == 2
    dropped = event("die", 1002.0)
    assert monitor._dropped_since_ns == dropped.time_nano
    monitor._enqueue(RecheckRequested(reason="periodic"))
    assert monitor._queue.qsize() == 3, "only container events are dropped, never control facts"


def test_health_needs_processing_and_a_stream(tmp_path: Path) -> None:
    """Before run() nothing is processing, so the monitor is not healthy (the heartbeat stays quiet)."""
    ok, details = Monitor(settings_for(tmp_path, None), docker_factory=never).health()
    assert not ok and details["stream_connected"] is False and details["processing"] is False


def test_blank_secrets_from_compose_defaults_count_as_unset(tmp_path: Path) -> None:
    """`${CFA_APPRISE_URLS:-}` yields an empty string: the monitor logs instead of failing to parse it."""
    from monitor.notifier import LogOnlyNotifier

    monitor = Monitor(settings_for(tmp_path, None, apprise_urls=" "), docker_factory=never)
    assert isinstance(monitor.notifier, LogOnlyNotifier)
    assert service._secret(None) == "" and service._secret(SecretStr(" x ")) == "x"


class HungDaemon:
    """A Docker client whose event stream is connected but whose other calls block until ``release``
    is set: a daemon that stopped answering."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.blocked = threading.Event()

    def ping(self) -> bool:
        return True

    def events(self, **_: Any) -> Any:
        return self

    def __iter__(self) -> Iterator[dict[str, Any]]:
        self.release.wait()
        return iter(())

    def containers(self, **_: Any) -> list[dict[str, Any]]:
        self.blocked.set()
        self.release.wait()
        return []

    def close(self) -> None:
        return None


def test_stopping_does_not_wait_for_a_docker_call_that_hangs(tmp_path: Path) -> None:
    """A daemon that stopped answering does not keep the monitor from stopping (SIGTERM, a restart):
    the call still blocked in it is left to its own timeout."""
    daemon = HungDaemon()
    thread = MonitorThread(Monitor(settings_for(tmp_path, None), docker_factory=lambda: daemon)).start()
    try:
        wait_until(daemon.blocked.is_set, what="the start re-check to block in the daemon")
        thread.stop()
        assert not daemon.release.is_set(), "the monitor stopped while the call was still blocked"
    finally:
        daemon.release.set()
