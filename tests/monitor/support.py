"""Test helpers for the monitor: a local HTTP sink Apprise delivers to, a monitor on a thread,
waiting for outcomes, and Docker fixtures' building blocks."""

from __future__ import annotations

import asyncio
import faulthandler
import json
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

from monitor.service import Monitor
from shared.settings import Settings

T = TypeVar("T")
Logs = list[MutableMapping[str, Any]]

# Other worktrees' tests share this engine and remove whatever carries their own label (``cf.test``):
# ours is a different key with a value unique to this run, so each side only ever removes its own.
TEST_LABEL = "cf.test.monitor"
RUN_ID = uuid.uuid4().hex[:10]
IMAGE = "cf/busybox:local"


def wait_until(
    predicate: Callable[[], T], *, timeout: float = 60.0, interval: float = 0.05, what: str = ""
) -> T:
    """Poll until ``predicate`` returns something truthy; fail after a generous ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what or predicate}")
        time.sleep(interval)


class Sink:
    """An HTTP endpoint on 127.0.0.1 that records every JSON body POSTed to it (Apprise ``json://``)."""

    def __init__(self, port: int = 0) -> None:
        self.received: list[dict[str, Any]] = []
        self.requests: list[str] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = port
        self.start()

    def start(self) -> None:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with sink._lock:
                    sink.received.append(json.loads(body or b"{}"))
                self.send_response(200)
                self.end_headers()

            def do_GET(self) -> None:
                with sink._lock:
                    sink.requests.append(self.path)
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return None

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.port}/hook"

    def messages(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.received)

    def titles(self) -> list[str]:
        return [str(m.get("title", "")) for m in self.messages()]

    def matching(self, *needles: str) -> list[dict[str, Any]]:
        return [m for m in self.messages() if all(n in str(m.get("title", "")) for n in needles)]

    def about(self, tenant: str, stack: str | None = None, *, title: str = "") -> list[dict[str, Any]]:
        """Messages whose title names this tenant (and stack) and starts with ``title``.

        The engine is shared: every monitor a test starts also pages other sessions' containers into
        the test's sink, so a test only ever looks at messages about its own tenant.
        """

        def names_it(text: str) -> bool:  # a title ends with its stack: "… / stack bot" is not "… bot2"
            if stack is None:
                return f"tenant {tenant} / " in text
            return text.endswith(f"tenant {tenant} / stack {stack}")

        return [
            m
            for m in self.messages()
            if names_it(str(m.get("title", ""))) and str(m.get("title", "")).startswith(title)
        ]


def processed(logs: Logs, action: str, container: str) -> bool:
    """Whether the monitor has finished handling ``action`` for the named container."""
    return any(
        entry.get("event") == "monitor.event_processed"
        and entry.get("action") == action
        and entry.get("container") == container
        for entry in list(logs)
    )


def logged(logs: Logs, event: str, **fields: Any) -> Logs:
    return [
        entry
        for entry in list(logs)
        if entry.get("event") == event and all(entry.get(k) == v for k, v in fields.items())
    ]


class MonitorThread:
    """Runs a :class:`Monitor` on a thread with its own event loop, like the sidecar process does."""

    def __init__(self, monitor: Monitor) -> None:
        self.monitor = monitor
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="test-monitor", daemon=True)

    def _main(self) -> None:
        try:
            asyncio.run(self.monitor.run())
        except BaseException as err:  # surfaced by stop()
            self.error = err

    def start(self) -> MonitorThread:
        self._thread.start()
        wait_until(lambda: self.monitor.started.is_set() or self.error, what="the monitor to start")
        if self.error:
            raise self.error
        return self

    def pending(self, *needles: str) -> int:
        """Messages (or burst items) waiting for delivery or for their summary that mention every one
        of ``needles`` (read from the state file); with no needle, all of them."""
        from monitor.store import Database, db_path

        db = Database(db_path(self.monitor.settings.data_dir))
        try:
            rows = db.conn.execute("SELECT items FROM outbox").fetchall()
        finally:
            db.close()
        return sum(1 for row in rows if all(needle in row["items"] for needle in needles))

    def delivered(self, *needles: str) -> bool:
        """Nothing that mentions all of ``needles`` waits in the outbox any more."""
        return self.pending(*needles) == 0

    def settle(self, logs: Logs, *removed: str, api: Any) -> None:
        """Remove the named containers, wait until the monitor processed their removal (so every
        earlier event of theirs too) and until no message about them is left to deliver (others'
        containers on the shared engine may keep the outbox busy: only ours are waited for)."""
        for name in removed:
            api.remove_container(name, force=True)
        for name in removed:
            wait_until(lambda n=name: processed(logs, "destroy", n), what=f"the removal of {name}")  # type: ignore[misc]
        for name in removed:
            wait_until(lambda n=name: self.delivered(n), what=f"the messages about {name} to go out")  # type: ignore[misc]

    def stop(self) -> None:
        self.monitor.request_stop()
        self._thread.join(60)
        if self._thread.is_alive():
            faulthandler.dump_traceback(file=sys.stderr, all_threads=True)  # where it is stuck
        assert not self._thread.is_alive(), "the monitor did not stop (every thread's stack is on stderr)"
        if self.error:
            raise self.error


def settings_for(data_dir: Path, sink: Sink | None, **overrides: Any) -> Settings:
    """Settings with short windows, for tests against a real engine (no timing thresholds in asserts)."""
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "apprise_urls": sink.url if sink else None,
        "runbook_base_url": "https://runbooks.test/agents/",
        "monitor_host_name": "testhost",
        "monitor_http_port": 0,
        # Every message is about one incident, so a test finds its own among the pages about other
        # sessions' containers (the engine is shared); the grouping test sets its own window.
        "monitor_group_window_seconds": 0.0,
        "monitor_resolve_hold_seconds": 0.5,
        "monitor_recovery_seconds": 600.0,
        "monitor_crash_loop_count": 3,
        "monitor_crash_loop_window_seconds": 120.0,
        "monitor_oom_confirm_seconds": 1.0,
        "monitor_tick_seconds": 0.2,
        "monitor_reconnect_max_seconds": 2.0,
        "monitor_gap_report_seconds": 0.5,
        "monitor_notify_retry_max_seconds": 1.0,
        "monitor_notify_timeout_seconds": 5.0,
        "monitor_volume_interval_seconds": 0,
        "monitor_disk_paths": [],
        "monitor_reconcile_lookback_seconds": 0,
    }
    values.update(overrides)
    return Settings(**values)


@contextmanager
def running(monitor: Monitor) -> Iterator[MonitorThread]:
    thread = MonitorThread(monitor).start()
    try:
        yield thread
    finally:
        thread.stop()


class TcpToUnixForwarder:
    """Forwards 127.0.0.1:<port> to a unix socket, like a socket proxy in front of the daemon (test only)."""

    def __init__(self, unix_path: str) -> None:
        import socket

        self._unix_path = unix_path
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket

        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(self._unix_path)
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    @staticmethod
    def _pump(source: Any, target: Any) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, target):
                with suppress(OSError):
                    end.close()

    def close(self) -> None:
        self._closed.set()
        self._listener.close()
