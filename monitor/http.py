"""``/healthz`` and ``/metrics`` of the sidecar (a Starlette app served by uvicorn in the same loop)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

HealthCheck = Callable[[], tuple[bool, dict[str, Any]]]


def create_app(health: HealthCheck, registry: CollectorRegistry) -> Starlette:
    """``/healthz`` answers 200 while healthy and 503 otherwise, with the reasons as JSON."""

    async def healthz(request: Request) -> Response:
        ok, details = health()
        return JSONResponse(
            {"status": "ok" if ok else "unhealthy", **details}, status_code=200 if ok else 503
        )

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return Starlette(routes=[Route("/healthz", healthz), Route("/metrics", metrics)])
