"""The event reader: the Docker event stream on a thread of its own, supervised.

It only parses and hands events on (``deliver`` must never block: the daemon skips a subscriber
that does not take an event within 100 ms). The stream ends *silently* when the daemon goes away
(docker-py turns the socket error into a normal end of iteration), so every end is treated as a
loss: reconnect with capped exponential backoff, resume from the last event's ``timeNano`` (the
replay is inclusive, so already-seen events are dropped by key), and announce the new stream with
:class:`~monitor.events.StreamConnected` so the router re-checks every container first.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

from monitor.events import ContainerEventReceived, MonitorEvent, StreamConnected, StreamLost
from shared.logging import get_logger

log = get_logger()

ACTIONS = ("start", "die", "kill", "stop", "oom", "destroy", "health_status", "restart")
FILTERS: dict[str, list[str]] = {"type": ["container"], "event": list(ACTIONS)}
INITIAL_BACKOFF_SECONDS = 0.5
_SEEN_KEYS = 4096


class EventStream(Protocol):
    def __iter__(self) -> Iterator[dict[str, Any]]: ...

    def close(self) -> None: ...


class DockerEventsClient(Protocol):
    def ping(self) -> Any: ...

    def events(
        self, since: Any = None, until: Any = None, filters: Any = None, decode: Any = None
    ) -> EventStream: ...

    def close(self) -> None: ...


def since_param(time_nano: int) -> str:
    """``since`` at full nanosecond precision (docker-py passes a string through untouched)."""
    return f"{time_nano // 1_000_000_000}.{time_nano % 1_000_000_000:09d}"


class EventReader:
    def __init__(
        self,
        client_factory: Callable[[], DockerEventsClient],
        deliver: Callable[[MonitorEvent], None],
        *,
        cursor_ns: int | None,
        seen: Iterable[tuple[int, str, str]] = (),
        reconnect_max: float = 30.0,
        clock: Callable[[], float] = time.time,
        on_replayed_duplicate: Callable[[], None] | None = None,
    ) -> None:
        self._factory = client_factory
        self._deliver = deliver
        self._reconnect_max = reconnect_max
        self._clock = clock
        self._on_duplicate = on_replayed_duplicate
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._stream: EventStream | None = None
        self._thread = threading.Thread(target=self._run, name="monitor-events", daemon=True)
        self.cursor_ns = cursor_ns
        self._seen_order: deque[tuple[int, str, str]] = deque(maxlen=_SEEN_KEYS)
        self._seen: set[tuple[int, str, str]] = set()
        for key in seen:
            self._remember(key)
        self.connected = threading.Event()

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop reading and close the stream; wait up to ``timeout`` seconds for the thread to end."""
        self._stop.set()
        self.interrupt("stopping")
        self._thread.join(timeout)

    def interrupt(self, reason: str) -> None:
        """Close the current stream from another thread (the watchdog's tool for a hung stream)."""
        with self._lock:
            stream = self._stream
        if stream is not None:
            log.info("monitor.stream_interrupted", reason=reason)
            try:
                stream.close()
            except Exception as err:  # closing a dead socket may fail; the read loop ends anyway
                log.debug("monitor.stream_close_failed", error=type(err).__name__)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _remember(self, key: tuple[int, str, str]) -> bool:
        if key in self._seen:
            return False
        if len(self._seen_order) == self._seen_order.maxlen:
            self._seen.discard(self._seen_order[0])
        self._seen_order.append(key)
        self._seen.add(key)
        return True

    def _run(self) -> None:
        backoff = INITIAL_BACKOFF_SECONDS
        lost_at: float | None = None
        while not self._stop.is_set():
            client: DockerEventsClient | None = None
            try:
                client = self._factory()
                client.ping()
                since = since_param(self.cursor_ns) if self.cursor_ns is not None else None
                stream = client.events(since=since, filters=FILTERS, decode=True)
            except Exception as err:  # any failure to connect means: back off and try again
                log.warning(
                    "monitor.stream_connect_failed", error=type(err).__name__, retry_in=round(backoff, 2)
                )
                if client is not None:
                    _close_quietly(client)
                self._stop.wait(backoff * random.uniform(0.9, 1.2))
                backoff = min(backoff * 2, self._reconnect_max)
                continue
            with self._lock:
                self._stream = stream
            if self._stop.is_set():
                _close_quietly(stream)
                break
            self.connected.set()
            self._deliver(StreamConnected(at=self._clock(), since_ns=self.cursor_ns, lost_at=lost_at))
            log.info("monitor.stream_connected", since=since, reconnect=lost_at is not None)
            backoff = INITIAL_BACKOFF_SECONDS
            reason = "stream ended"
            try:
                self._read(stream)
            except Exception as err:  # a broken stream is a lost stream, whatever the exception
                reason = f"stream failed ({type(err).__name__})"
            finally:
                with self._lock:
                    self._stream = None
                self.connected.clear()
                _close_quietly(stream)
                _close_quietly(client)
            if self._stop.is_set():
                break
            lost_at = self._clock()
            self._deliver(StreamLost(at=lost_at, reason=reason))
            log.warning("monitor.stream_lost", reason=reason, retry_in=round(backoff, 2))
            self._stop.wait(backoff)

    def _read(self, stream: EventStream) -> None:
        for raw in stream:
            event = ContainerEventReceived.from_docker(raw)
            if event is None:
                continue
            if not self._remember(event.key):
                if self._on_duplicate is not None:
                    self._on_duplicate()
                continue
            self.cursor_ns = event.time_nano
            self._deliver(event)


def _close_quietly(closable: Any) -> None:
    with contextlib.suppress(Exception):  # best effort on an already broken connection
        closable.close()
