"""Tests for monitor.reader: the supervised event stream (scripted fake daemon, no Docker)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any

from monitor.events import ContainerEventReceived, MonitorEvent, StreamConnected, StreamLost
from monitor.reader import EventReader, since_param
from tests.monitor.support import wait_until


def raw(time_nano: int, action: str = "die", container: str = "c1") -> dict[str, Any]:
    return {
        "Type": "container",
        "Action": action,
        "Actor": {"ID": container, "Attributes": {"name": "x"}},
        "timeNano": time_nano,
    }


class ScriptedStream:
    """Yields its events, then either ends (like docker-py on a dropped socket) or blocks until closed."""

    def __init__(self, events: list[dict[str, Any]], *, hang: bool = False) -> None:
        self.events = events
        self.hang = hang
        self.closed = threading.Event()

    def __iter__(self) -> Iterator[dict[str, Any]]:
        yield from self.events
        if self.hang:
            self.closed.wait(30)

    def close(self) -> None:
        self.closed.set()


class FakeDaemon:
    """Each connection serves the next scripted stream; a ``None`` script refuses the connection."""

    def __init__(self, *streams: ScriptedStream | None) -> None:
        self.streams = list(streams)
        self.since: list[Any] = []
        self.filters: list[Any] = []

    def __call__(self) -> FakeDaemon:
        if not self.streams:
            return self.with_stream(ScriptedStream([], hang=True))
        if self.streams[0] is None:
            self.streams.pop(0)
            raise ConnectionRefusedError("daemon down")
        return self

    def with_stream(self, stream: ScriptedStream) -> FakeDaemon:
        self.streams.insert(0, stream)
        return self

    def ping(self) -> bool:
        return True

    def events(
        self, since: Any = None, until: Any = None, filters: Any = None, decode: Any = None
    ) -> ScriptedStream:
        self.since.append(since)
        self.filters.append(filters)
        stream = self.streams.pop(0)
        assert stream is not None
        return stream

    def close(self) -> None:
        return None


def collect(reader_factory: FakeDaemon, *, cursor: int | None = None, until: int) -> list[MonitorEvent]:
    facts: queue.Queue[MonitorEvent] = queue.Queue()
    seen: list[MonitorEvent] = []
    reader = EventReader(reader_factory, facts.put, cursor_ns=cursor, reconnect_max=0.05)
    reader.start()
    try:

        def enough() -> bool:
            while not facts.empty():
                seen.append(facts.get())
            return len(seen) >= until

        wait_until(enough, timeout=20, what=f"{until} facts")
    finally:
        reader.stop()
    return seen


def test_a_silently_ended_stream_is_resumed_from_the_last_event_without_duplicates() -> None:
    """The second stream replays the boundary event (since is inclusive); it is dropped."""
    daemon = FakeDaemon(
        ScriptedStream([raw(100), raw(200, "oom")]),
        ScriptedStream([raw(200, "oom"), raw(300)], hang=True),
    )
    facts = collect(daemon, until=6)
    kinds = [type(f).__name__ for f in facts]
    assert kinds == [
        "StreamConnected",
        "ContainerEventReceived",
        "ContainerEventReceived",
        "StreamLost",
        "StreamConnected",
        "ContainerEventReceived",
    ]
    events = [f for f in facts if isinstance(f, ContainerEventReceived)]
    assert [e.time_nano for e in events] == [100, 200, 300]
    assert daemon.since == [None, "0.000000200"]
    assert daemon.filters[0]["type"] == ["container"]
    reconnected = facts[4]
    assert isinstance(reconnected, StreamConnected) and reconnected.lost_at is not None
    assert isinstance(facts[3], StreamLost)


def test_refused_connections_are_retried_and_the_stored_cursor_is_used() -> None:
    """Connection failures back off and retry; a persisted cursor becomes the first ``since``."""
    daemon = FakeDaemon(None, None, ScriptedStream([raw(5_000_000_001)], hang=True))
    facts = collect(daemon, cursor=4_000_000_000, until=2)
    assert isinstance(facts[0], StreamConnected) and facts[0].lost_at is None
    assert daemon.since == ["4.000000000"]


def test_interrupt_closes_a_hung_stream_and_the_reader_reconnects() -> None:
    """The watchdog's interrupt ends a stream that would otherwise block forever."""
    hung = ScriptedStream([raw(1)], hang=True)
    daemon = FakeDaemon(hung)
    facts: queue.Queue[MonitorEvent] = queue.Queue()
    reader = EventReader(daemon, facts.put, cursor_ns=None, reconnect_max=0.05)
    reader.start()
    try:
        wait_until(lambda: facts.qsize() >= 2, timeout=20, what="the first event")
        reader.interrupt("ping failed")
        assert hung.closed.wait(5)
        wait_until(lambda: len(daemon.since) >= 2, timeout=20, what="a reconnect")
    finally:
        reader.stop()


def test_since_keeps_nanosecond_precision() -> None:
    """docker-py passes a string through untouched; an int or datetime would lose the nanoseconds."""
    assert since_param(1795639334188824386) == "1795639334.188824386"
