"""The project's monitor run alongside a stack: ``python -m monitor run`` as its own process, reading the
private engine, paging through Apprise ``json://`` to a sink on the host's loopback. Tests look only at
the pages that arrive (the monitor's internals are another suite's business)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.stacks.harness import REPO, RunEnv


class PageSink:
    """Apprise ``json://`` target on 127.0.0.1: keeps every page's JSON body."""

    def __init__(self) -> None:
        self.pages: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    page = json.loads(self.rfile.read(length))
                except ValueError:
                    page = {}
                with sink._lock:
                    sink.pages.append(page if isinstance(page, dict) else {})
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.port}/pages"

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.pages)

    def save(self, path: Path) -> None:
        """Keep what arrived, for a human reading the run's work directory."""
        path.write_text(json.dumps(self.snapshot(), indent=2))

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def page_text(page: dict[str, Any]) -> str:
    body = page.get("body", page)
    if not isinstance(body, dict):
        return str(body)
    return f"{body.get('title', '')}\n{body.get('message', '')}"


def pages_about(pages: list[dict[str, Any]], *words: str) -> list[str]:
    """The texts of the pages that mention every one of ``words`` (case-insensitive) and are not
    ``[RESOLVED]`` notices."""
    texts = [page_text(p) for p in pages]
    return [
        t
        for t in texts
        if all(w.lower() in t.lower() for w in words) and "resolved" not in t.lower().split("\n")[0]
    ]


@dataclass
class MonitorProcess:
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextmanager
def monitor_alongside(run: RunEnv, sink: PageSink, name: str) -> Iterator[MonitorProcess]:
    """Start the monitor on the private engine with its documented settings; stop it afterwards."""
    data = run.work / f"{name}-monitor"
    data.mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/root"),
        "CFA_MONITOR_DOCKER_URL": run.docker_host,
        "CFA_APPRISE_URLS": sink.url,
        "CFA_DATA_DIR": str(data),
        "CFA_MONITOR_HOST_NAME": "stacks-test",
        "CFA_MONITOR_HTTP_PORT": "0",
        "CFA_MONITOR_VOLUME_INTERVAL_SECONDS": "0",
        "CFA_LOG_LEVEL": "INFO",
    }
    log = data / "monitor.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "monitor", "run"], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    monitor = MonitorProcess(process, log)
    try:
        yield monitor
    finally:
        monitor.stop()
