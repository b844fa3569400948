"""Tests for monitor.heartbeat: the dead man's switch ping."""

from __future__ import annotations

from pydantic import SecretStr

from monitor.heartbeat import ping
from tests.monitor.support import Sink


def test_ping_reaches_the_url_and_reports_failure_without_raising(sink: Sink) -> None:
    """A 2xx answer is True; an unreachable endpoint is False."""
    assert ping(SecretStr(f"http://127.0.0.1:{sink.port}/ping/check-uuid")) is True
    assert sink.requests == ["/ping/check-uuid"]
    sink.stop()
    assert ping(SecretStr(f"http://127.0.0.1:{sink.port}/ping/check-uuid"), timeout=2) is False
