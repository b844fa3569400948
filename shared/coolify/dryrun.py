"""Dry-run: run the real client and operations, but never let a Coolify write leave the process.

``DryRunTransport`` records every request the client makes. Reads go to the real Coolify when one is
configured (so the plan reflects reality) and are answered with an empty Coolify otherwise; writes
are never sent and get a plausible answer (placeholder uuids) so the operation can show every step.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from typing import Any

import httpx

from shared import redaction

PLACEHOLDER_SERVER = "dry-run-server"
PLACEHOLDER_PROJECT = "dry-run-project"
PLACEHOLDER_SERVICE = "dry-run-service"


@dataclass(frozen=True)
class PlannedCall:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    sent: bool

    def masked(self) -> dict[str, Any]:
        """The call as shown to a person: secrets masked, the compose summarised."""
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "body": redaction.scrub(_summarise(self.body)),
            "sent": self.sent,
        }


def _summarise(body: Any) -> Any:
    if isinstance(body, dict) and isinstance(body.get("docker_compose_raw"), str):
        raw = body["docker_compose_raw"]
        size = len(base64.b64decode(raw))
        return {**body, "docker_compose_raw": f"<base64 of the rendered compose, {size} bytes>"}
    return body


@dataclass
class DryRunTransport(httpx.AsyncBaseTransport):
    """Records every request; forwards only reads, and only when ``upstream`` is set."""

    upstream: httpx.AsyncBaseTransport | None = None
    calls: list[PlannedCall] = field(default_factory=list)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body: Any = json.loads(request.content) if request.content else None
        path = re.sub(r"^.*?/api/v1", "", request.url.path) or "/"
        query = {k: v for k, v in request.url.params.items()}
        planned = any(p in path for p in (PLACEHOLDER_PROJECT, PLACEHOLDER_SERVICE, PLACEHOLDER_SERVER))
        forward = request.method == "GET" and self.upstream is not None and not planned
        self.calls.append(PlannedCall(request.method, path, query, body, sent=forward))
        if forward:
            assert self.upstream is not None
            return await self.upstream.handle_async_request(request)
        if request.method == "GET":
            # Reads of things this dry run only planned cannot be asked of the real Coolify.
            return _offline_read(path)
        return _planned_write(request.method, path, body)

    async def aclose(self) -> None:
        if self.upstream is not None:
            await self.upstream.aclose()


def _json(status: int, payload: Any) -> httpx.Response:
    return httpx.Response(status, json=payload)


def _offline_read(path: str) -> httpx.Response:
    """An empty Coolify with one usable server: what a first provision would meet."""
    server = {
        "uuid": PLACEHOLDER_SERVER,
        "name": "(dry run: no Coolify configured)",
        "is_usable": True,
        "is_reachable": True,
        "settings": {},
    }
    if path == "/servers":
        return _json(200, [server])
    if path == f"/servers/{PLACEHOLDER_SERVER}":
        return _json(200, server)
    if path.endswith("/destinations"):
        return _json(200, [{"uuid": "dry-run-destination", "name": "coolify", "network": "coolify"}])
    if path in ("/projects", "/services"):
        return _json(200, [])
    if path == "/version":
        return httpx.Response(200, text="dry-run")
    if path.startswith(f"/projects/{PLACEHOLDER_PROJECT}"):
        if path.count("/") == 2:
            return _json(200, {"uuid": PLACEHOLDER_PROJECT, "name": "(planned)", "environments": []})
        return _json(200, {"name": "production", "services": []})
    if path.startswith(f"/services/{PLACEHOLDER_SERVICE}"):
        return _json(200, {"uuid": PLACEHOLDER_SERVICE, "name": "(planned)", "status": "exited"})
    return _json(404, {"message": "Not found (dry run: no Coolify configured)."})


def _planned_write(method: str, path: str, body: Any) -> httpx.Response:
    if method == "POST" and path == "/projects":
        return _json(201, {"uuid": PLACEHOLDER_PROJECT})
    if method == "POST" and path == "/services":
        urls = body.get("urls") if isinstance(body, dict) else None
        domains = sorted(str(u["url"]) for u in urls or [])
        return _json(201, {"uuid": PLACEHOLDER_SERVICE, "domains": domains})
    if path.endswith("/envs/bulk"):
        return _json(201, [])
    if method == "PATCH" and path.startswith("/services/"):
        return _json(200, {"uuid": path.split("/")[2], "domains": []})
    return _json(200, {"message": "dry run: not sent"})
