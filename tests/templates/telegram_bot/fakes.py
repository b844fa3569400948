"""Stateful fakes of the Telegram Bot API and the CloudFreedom Router, as Starlette apps.

They implement only what the bot calls, with the behaviours it depends on: ``getUpdates`` returns only
updates at or above ``offset`` (and forgets the confirmed ones), 429 carries ``parameters.retry_after``,
a wrong token is 401, the router checks the bearer key. Tests script failures by queueing them.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

JsonDict = dict[str, Any]


@dataclass
class FakeTelegram:
    """The Bot API for one bot token. ``sent`` holds every delivered ``sendMessage`` body, in order."""

    token: str
    updates: list[JsonDict] = field(default_factory=list)
    sent: list[JsonDict] = field(default_factory=list)
    actions: list[JsonDict] = field(default_factory=list)
    polls: list[JsonDict] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    webhook_deletions: int = 0
    # Scripted answers, consumed one per call of that method: (status, body) pairs.
    scripted: dict[str, deque[tuple[int, JsonDict]]] = field(default_factory=dict)
    next_update_id: int = 100
    delivered: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def app(self) -> Starlette:
        return Starlette(routes=[Route("/bot{token}/{method}", self._endpoint, methods=["POST"])])

    def push_text(self, chat_id: int, text: str, chat_type: str = "private") -> int:
        """Queue an incoming text message; return its update_id."""
        return self.push_message({"chat": {"id": chat_id, "type": chat_type}, "text": text})

    def push_message(self, message: JsonDict) -> int:
        update_id = self.next_update_id
        self.next_update_id += 1
        self.updates.append({"update_id": update_id, "message": {"message_id": update_id, **message}})
        return update_id

    def script(self, method: str, status: int, body: JsonDict) -> None:
        """Answer the next call of ``method`` with ``status`` and ``body`` instead of normally."""
        self.scripted.setdefault(method, deque()).append((status, body))

    def rate_limit(self, method: str, retry_after: int) -> None:
        self.script(
            method,
            429,
            {
                "ok": False,
                "error_code": 429,
                "description": f"Too Many Requests: retry after {retry_after}",
                "parameters": {"retry_after": retry_after},
            },
        )

    def fail(self, method: str, status: int, description: str = "Internal Server Error") -> None:
        self.script(method, status, {"ok": False, "error_code": status, "description": description})

    def texts_to(self, chat_id: int) -> list[str]:
        return [str(body["text"]) for body in self.sent if body["chat_id"] == chat_id]

    async def _endpoint(self, request: Request) -> Response:
        method = request.path_params["method"]
        self.calls.append(method)
        if request.path_params["token"] != self.token:
            return JSONResponse({"ok": False, "error_code": 401, "description": "Unauthorized"}, 401)
        body: JsonDict = await request.json()
        queue = self.scripted.get(method)
        if queue:
            status, answer = queue.popleft()
            return JSONResponse(answer, status)
        if method == "getUpdates":
            return await self._get_updates(body)
        if method == "deleteWebhook":
            self.webhook_deletions += 1
            return _ok(True)
        if method == "sendChatAction":
            self.actions.append(body)
            return _ok(True)
        if method == "sendMessage":
            text = body.get("text")
            if not isinstance(text, str) or not text.strip() or len(text) > 4096:
                return JSONResponse({"ok": False, "error_code": 400, "description": "Bad Request: text"}, 400)
            self.sent.append(body)
            self.delivered.set()
            return _ok({"message_id": len(self.sent), "chat": {"id": body["chat_id"]}, "text": text})
        return JSONResponse({"ok": False, "error_code": 404, "description": "Not Found"}, 404)

    async def _get_updates(self, body: JsonDict) -> Response:
        self.polls.append(body)
        offset = body.get("offset")
        if isinstance(offset, int):
            # Telegram forgets everything below the offset: it is confirmed.
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        # Stands in for the long-poll wait: lets other tasks run, as a real network round trip would.
        await asyncio.sleep(0)
        limit = int(body.get("limit", 100))
        return _ok(self.updates[:limit])


@dataclass
class FakeRouter:
    """An OpenAI-compatible ``/v1/chat/completions``. By default it answers ``echo: <last user text>``."""

    api_key: str
    requests: list[JsonDict] = field(default_factory=list)
    authorizations: list[str] = field(default_factory=list)
    answer: Callable[[list[JsonDict]], str] = field(
        default=lambda messages: f"echo: {messages[-1]['content']}"
    )
    # Scripted answers consumed one per call: (status, raw body text).
    scripted: deque[tuple[int, str]] = field(default_factory=deque)
    received: asyncio.Event = field(default_factory=asyncio.Event)
    gate: asyncio.Event | None = None

    @property
    def app(self) -> Starlette:
        return Starlette(routes=[Route("/v1/chat/completions", self._endpoint, methods=["POST"])])

    def reply_with(self, text: str) -> None:
        self.scripted.append((200, json.dumps(_completion(text))))

    def fail(self, status: int, body: str = '{"error": {"message": "upstream failed"}}') -> None:
        self.scripted.append((status, body))

    async def _endpoint(self, request: Request) -> Response:
        authorization = request.headers.get("authorization", "")
        self.authorizations.append(authorization)
        if authorization != f"Bearer {self.api_key}":
            return JSONResponse({"error": {"message": "invalid key"}}, 401)
        body: JsonDict = await request.json()
        self.requests.append(body)
        self.received.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.scripted:
            status, raw = self.scripted.popleft()
            return PlainTextResponse(raw, status, media_type="application/json")
        return JSONResponse(_completion(self.answer(body["messages"])))


class Interrupting(httpx.AsyncBaseTransport):
    """Wraps a transport and raises scripted transport errors (timeouts, refused connections) first."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner
        self.errors: deque[Callable[[httpx.Request], Exception]] = deque()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.errors:
            raise self.errors.popleft()(request)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def _ok(result: Any) -> JSONResponse:
    return JSONResponse({"ok": True, "result": result})


def _completion(text: str) -> JsonDict:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
    }
