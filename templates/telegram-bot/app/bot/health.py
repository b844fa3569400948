"""Liveness: ``GET /healthz`` is 200 only while long polling keeps completing round trips.

The poll loop calls ``Heartbeat.beat()`` after every successful ``getUpdates``; a long poll returns at
least every ``POLL_TIMEOUT_SECONDS`` even when nobody writes, so silence longer than the stall threshold
means the loop is stuck or Telegram is unreachable. The clock is injected (monotonic seconds).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass

Clock = Callable[[], float]

_MAX_REQUEST_BYTES = 8192
_READ_TIMEOUT_SECONDS = 5.0


class Heartbeat:
    """When polling last made progress. Starts "now", which gives the bot a grace period at start-up."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._last = clock()

    def beat(self) -> None:
        self._last = self._clock()

    def age(self) -> float:
        """Seconds since the last successful poll (or since start)."""
        return max(0.0, self._clock() - self._last)


@dataclass(frozen=True)
class HealthReport:
    """What ``/healthz`` answers."""

    status_code: int
    body: dict[str, object]


def health_report(heartbeat: Heartbeat, stall_seconds: float) -> HealthReport:
    """200 ``ok`` while the last poll is younger than ``stall_seconds``, else 503 ``stalled``."""
    age = round(heartbeat.age(), 3)
    if age < stall_seconds:
        return HealthReport(200, {"status": "ok", "last_poll_age_seconds": age})
    return HealthReport(503, {"status": "stalled", "last_poll_age_seconds": age})


class HealthServer:
    """A tiny HTTP/1.0 responder for ``/healthz``; everything else is 404. Not exposed outside the stack."""

    def __init__(self, heartbeat: Heartbeat, stall_seconds: float) -> None:
        self._heartbeat = heartbeat
        self._stall_seconds = stall_seconds
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> int:
        """Listen on ``host:port`` (port 0 picks a free one); return the bound port."""
        self._server = await asyncio.start_server(self._serve, host, port, limit=_MAX_REQUEST_BYTES)
        bound: int = self._server.sockets[0].getsockname()[1]
        return bound

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = await asyncio.wait_for(reader.readline(), _READ_TIMEOUT_SECONDS)
            parts = request_line.decode("latin-1").split()
            path = parts[1].split("?", 1)[0] if len(parts) >= 2 else ""
            if len(parts) >= 2 and parts[0] in ("GET", "HEAD") and path == "/healthz":
                report = health_report(self._heartbeat, self._stall_seconds)
                status, body = report.status_code, report.body
            else:
                status, body = 404, {"status": "not_found"}
            writer.write(_response(status, body, head=bool(parts) and parts[0] == "HEAD"))
            await writer.drain()
        except (TimeoutError, ConnectionError, ValueError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


_REASONS = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}


def _response(status: int, body: dict[str, object], *, head: bool) -> bytes:
    payload = json.dumps(body).encode()
    headers = (
        f"HTTP/1.0 {status} {_REASONS[status]}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    return headers if head else headers + payload
