"""Tests for monitor.http: /healthz and /metrics over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from monitor.http import StatusServer
from monitor.metrics import MonitorMetrics

pytestmark = pytest.mark.anyio


async def test_healthz_reports_status_and_reasons_and_metrics_are_prometheus_text() -> None:
    """200 healthy, 503 with details otherwise; /metrics serves the registry; other paths 404."""
    state: dict[str, Any] = {"ok": True}
    metrics = MonitorMetrics()
    metrics.reconnects.inc()
    server = StatusServer(
        lambda: (state["ok"], {"stream_connected": state["ok"]}), metrics.registry, "127.0.0.1", 0
    )
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
            healthy = await client.get("/healthz")
            assert healthy.status_code == 200 and healthy.json() == {"status": "ok", "stream_connected": True}
            state["ok"] = False
            sick = await client.get("/healthz?verbose=1")
            assert sick.status_code == 503 and sick.json()["status"] == "unhealthy"
            scraped = await client.get("/metrics")
            assert scraped.status_code == 200 and "cfmon_stream_reconnects_total 1.0" in scraped.text
            assert scraped.headers["content-type"].startswith("text/plain")
            assert (await client.get("/")).status_code == 404
            assert (await client.post("/healthz")).status_code == 405
    finally:
        await server.close()


async def test_a_silent_or_garbled_client_is_dropped_without_harm() -> None:
    """Garbage and half-open connections get no answer and do not stop the server."""
    metrics = MonitorMetrics()
    server = StatusServer(lambda: (True, {}), metrics.registry, "127.0.0.1", 0)
    await server.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"garbage\r\n\r\n")
        await writer.drain()
        assert await reader.read() == b""
        writer.close()
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"http://127.0.0.1:{server.port}/healthz")).status_code == 200
    finally:
        await server.close()
