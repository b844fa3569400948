"""Monitor wiring without Docker: the bounded queue and the health verdict."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydantic import SecretStr

from monitor import service
from monitor.events import RecheckRequested
from monitor.service import Monitor
from tests.monitor.fakes import event
from tests.monitor.support import settings_for


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
