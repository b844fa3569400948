"""``POST /hooks/coolify/{token}``: Coolify's team webhook channel in, events out.

Coolify signs nothing (``coolify-api.md`` §10), so the URL carries a secret token, compared in constant
time. The body is limited to 64 KiB and validated; bad input is refused with 401 (token), 413 (size) or
422 (body), never a 5xx, and changes nothing. A replay has no second effect: each body gets a receipt
in PocketBase (its hash, per 10-minute bucket, under a unique index), and a body whose receipt exists
is acknowledged and dropped. Compose services send no deployment webhooks: ``deployment_*`` and
unknown events are accepted and logged only.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse

from functions.events import AnyEvent, CoolifyServerChanged, CoolifyTaskFinished
from functions.runtime import Runtime
from shared.errors import CfaError
from shared.logging import get_logger
from shared.pocketbase.client import RecordValidationError

log = get_logger()

MAX_BODY = 64 * 1024
REPLAY_BUCKET_SECONDS = 600


class _Payload(BaseModel):
    model_config = ConfigDict(extra="allow")

    event: str
    success: bool | None = None
    message: str = ""
    url: str | None = None


class _TaskPayload(_Payload):
    task_name: str = ""
    task_uuid: str = ""
    output: str | None = ""
    service_uuid: str | None = None
    application_uuid: str | None = None


class _ServerPayload(_Payload):
    server_name: str = ""
    server_uuid: str
    disk_usage: float | int | str | None = None
    threshold: float | int | str | None = None


_SERVER_KINDS: dict[str, Literal["unreachable", "reachable", "disk_usage"]] = {
    "server_unreachable": "unreachable",
    "server_reachable": "reachable",
    "high_disk_usage": "disk_usage",
}


def _problem(status: int, message: str) -> JSONResponse:
    return JSONResponse({"message": message}, status_code=status)


async def _read_limited(request: Request) -> bytes | None:
    """The body, or None once it passes MAX_BODY (read no further)."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_BODY:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_BODY:
            return None
    return bytes(body)


def to_event(payload: dict[str, Any], receipt: str) -> AnyEvent | None:
    """The event a webhook body means for us, or None for those that are only logged."""
    name = str(payload.get("event", ""))
    if name in ("task_success", "task_failed"):
        task = _TaskPayload.model_validate(payload)
        if not task.service_uuid:
            return None  # an application's task: not ours
        return CoolifyTaskFinished(
            source="webhook",
            receipt=receipt,
            succeeded=name == "task_success",
            service_uuid=task.service_uuid,
            task_name=task.task_name,
            output=task.output or "",
            url=task.url or "",
        )
    if name in _SERVER_KINDS:
        server = _ServerPayload.model_validate(payload)
        detail = server.message
        if name == "high_disk_usage":
            detail = (
                f"{server.message} (disk usage {server.disk_usage}%, threshold {server.threshold}%)".strip()
            )
        return CoolifyServerChanged(
            source="webhook",
            receipt=receipt,
            kind=_SERVER_KINDS[name],
            server_name=server.server_name,
            server_uuid=server.server_uuid,
            detail=detail,
            url=server.url or "",
        )
    return None


async def _first_receipt(rt: Runtime, key: str, event: str) -> bool:
    """Record the receipt; False when it exists already (a replay)."""
    try:
        await rt.pb.create_record("webhook_receipts", {"key": key, "event": event[:100]})
    except RecordValidationError as err:
        if err.not_unique:
            return False
        raise
    return True


def receiver(rt: Runtime) -> Any:
    """The Starlette endpoint for ``/hooks/coolify/{token}``."""

    async def receive(request: Request) -> JSONResponse:
        expected = rt.settings.webhook_token
        given = str(request.path_params.get("token", ""))
        if expected is None or not hmac.compare_digest(given.encode(), expected.get_secret_value().encode()):
            rt.metrics.webhooks.labels(result="unauthorized").inc()
            return _problem(401, "unknown webhook token")
        raw = await _read_limited(request)
        if raw is None:
            rt.metrics.webhooks.labels(result="too_large").inc()
            return _problem(413, f"the body is larger than {MAX_BODY} bytes")
        try:
            payload = json.loads(raw)
            _Payload.model_validate(payload)
            bucket = int(time.time() // REPLAY_BUCKET_SECONDS)
            key = f"{hashlib.sha256(raw).hexdigest()[:64]}:{bucket}"
            event = to_event(payload, key)
        except (ValueError, ValidationError) as err:
            rt.metrics.webhooks.labels(result="malformed").inc()
            reason = err.errors()[0]["msg"] if isinstance(err, ValidationError) else "not JSON"
            return _problem(422, f"not a Coolify webhook body: {reason}")
        name = str(payload["event"])
        if name == "test":
            rt.metrics.webhooks.labels(result="test").inc()
            log.info("webhook.test_received")
            return JSONResponse({"ok": True})
        if event is None:
            rt.metrics.webhooks.labels(result="ignored").inc()
            log.info("webhook.ignored", webhook_event=name[:100])
            return JSONResponse({"accepted": True, "handled": False})
        try:
            first = await _first_receipt(rt, key, name)
        except CfaError as err:
            log.warning("webhook.receipt_failed", error=err.kind)
            return _problem(503, "PocketBase is unavailable; Coolify will retry")
        if not first:
            rt.metrics.webhooks.labels(result="replay").inc()
            log.info("webhook.replay_dropped", webhook_event=name)
            return JSONResponse({"accepted": True, "replay": True})
        rt.metrics.webhooks.labels(result="accepted").inc()
        rt.submit(event)
        return JSONResponse({"accepted": True, "handled": True})

    return receive
