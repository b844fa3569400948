"""``/healthz`` and ``/metrics`` of the sidecar: a minimal HTTP/1.1 server on the monitor's own loop.

Two GET endpoints do not need a framework, and the monitor's memory budget (RSS under 60 MB) is
better spent elsewhere: this costs no thread and no import beyond prometheus_client. Each connection
answers one request and closes; a client that does not send its request within 5 s is dropped.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

HealthCheck = Callable[[], tuple[bool, dict[str, Any]]]
READ_TIMEOUT_SECONDS = 5.0
_MAX_HEADER_LINES = 100
_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}


def respond(
    health: HealthCheck, registry: CollectorRegistry, method: str, path: str
) -> tuple[int, str, bytes]:
    """Status, content type and body for one request."""
    if method not in ("GET", "HEAD"):
        return 405, "text/plain", b"method not allowed\n"
    path = path.split("?", 1)[0]
    if path == "/healthz":
        ok, details = health()
        body = json.dumps({"status": "ok" if ok else "unhealthy", **details}).encode()
        return (200 if ok else 503), "application/json", body
    if path == "/metrics":
        return 200, CONTENT_TYPE_LATEST, generate_latest(registry)
    return 404, "text/plain", b"not found\n"


class StatusServer:
    """Serves :func:`respond` on ``host:port`` (port 0 picks a free one; see ``port`` once started)."""

    def __init__(self, health: HealthCheck, registry: CollectorRegistry, host: str, port: int) -> None:
        self._health = health
        self._registry = registry
        self._host = host
        self.port = port
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self._host, self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = await asyncio.wait_for(reader.readline(), READ_TIMEOUT_SECONDS)
            for _ in range(_MAX_HEADER_LINES):
                line = await asyncio.wait_for(reader.readline(), READ_TIMEOUT_SECONDS)
                if line in (b"\r\n", b"\n", b""):
                    break
            method, path, _version = request_line.decode("latin-1").split(" ", 2)
            status, content_type, body = respond(self._health, self._registry, method, path)
            head = (
                f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            ).encode("latin-1")
            writer.write(head + (b"" if method == "HEAD" else body))
            await writer.drain()
        except (TimeoutError, ValueError, ConnectionError):
            pass  # a malformed or silent client gets nothing
        finally:
            writer.close()
