"""Tests for monitor.http: /healthz and /metrics."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from monitor.http import create_app
from monitor.metrics import MonitorMetrics


@pytest.mark.anyio
async def test_healthz_reports_status_and_reasons_and_metrics_are_prometheus_text() -> None:
    """200 while healthy, 503 with the details otherwise; /metrics serves the monitor's registry."""
    state: dict[str, Any] = {"ok": True}
    metrics = MonitorMetrics()
    metrics.reconnects.inc()
    app = create_app(lambda: (state["ok"], {"stream_connected": state["ok"]}), metrics.registry)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://monitor") as client:
        healthy = await client.get("/healthz")
        assert healthy.status_code == 200 and healthy.json() == {"status": "ok", "stream_connected": True}
        state["ok"] = False
        sick = await client.get("/healthz")
        assert sick.status_code == 503 and sick.json()["status"] == "unhealthy"
        scraped = await client.get("/metrics")
        assert scraped.status_code == 200 and "cfmon_stream_reconnects_total 1.0" in scraped.text
