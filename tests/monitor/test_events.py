"""Tests for monitor.events: parsing the daemon's event JSON into facts."""

from __future__ import annotations

from monitor.events import ContainerEventReceived, DiskUsageMeasured, StreamConnected

RAW = {
    "Type": "container",
    "Action": "health_status: unhealthy",
    "Actor": {"ID": "f949", "Attributes": {"name": "web", "exitCode": "0", "cf.tenant": "acme"}},
    "scope": "local",
    "time": 1795639334,
    "timeNano": 1795639334188824386,
}


def test_container_event_is_parsed_with_its_health_and_key() -> None:
    """A health event keeps its raw action; verb, health and the dedup key are derived from it."""
    event = ContainerEventReceived.from_docker(RAW)
    assert event is not None
    assert (event.verb, event.health, event.name) == ("health_status", "unhealthy", "web")
    assert event.key == (1795639334188824386, "f949", "health_status: unhealthy")
    assert event.time == 1795639334.188824386


def test_non_container_and_malformed_events_are_ignored() -> None:
    """Volume events and events without an actor id or timeNano yield None instead of raising."""
    assert ContainerEventReceived.from_docker({**RAW, "Type": "volume"}) is None
    assert ContainerEventReceived.from_docker({**RAW, "Actor": {}}) is None
    assert ContainerEventReceived.from_docker({**RAW, "timeNano": None}) is None


def test_legacy_fields_are_a_fallback_for_old_engines() -> None:
    """Engines before API 1.52 also send status/id; they are used only when Action/Actor are missing."""
    legacy = {"Type": "container", "status": "die", "id": "abc", "timeNano": 5}
    event = ContainerEventReceived.from_docker(legacy)
    assert event is not None and (event.action, event.container_id) == ("die", "abc")


def test_stream_connected_knows_its_gap() -> None:
    """The gap is the time between losing the previous stream and this connection; none at first."""
    assert StreamConnected(at=10.0, since_ns=None).gap_seconds is None
    assert StreamConnected(at=10.0, since_ns=1, lost_at=7.5).gap_seconds == 2.5


def test_disk_percent_is_computed_like_df() -> None:
    """Used / (used + available to non-root), as df prints it."""
    measured = DiskUsageMeasured(path="/", total_bytes=100, used_bytes=60, free_bytes=20)
    assert measured.percent == 75.0
    assert DiskUsageMeasured(path="/", total_bytes=0, used_bytes=0, free_bytes=0).percent == 0.0
