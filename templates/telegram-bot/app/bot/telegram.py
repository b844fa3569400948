"""The few Bot API methods the bot uses, over an injected ``httpx.AsyncClient``.

Errors, all subclasses of ``TelegramError``::

    TelegramError                 any failed call; ``str()`` never contains the token
     +-- TelegramUnavailable      network error, timeout, 5xx or a non-JSON body: worth retrying
     +-- RetryAfter               429; wait exactly ``retry_after`` seconds, then repeat the call
     +-- TelegramRejected         the API answered ``ok: false`` (4xx); ``status`` 409 means another
                                  poller or an active webhook

Every Bot API URL contains the token (``/bot<token>/<method>``), so no httpx exception text is passed on
without masking it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, NoReturn

import httpx

from bot.logs import log_event, redact

Sleep = Callable[[float], Awaitable[None]]

logger = logging.getLogger("bot")

SEND_ATTEMPTS = 5
_TIMEOUT = httpx.Timeout(15.0, connect=10.0)


class TelegramError(Exception):
    """A Bot API call failed."""

    def __init__(self, method: str, reason: str, status: int | None = None) -> None:
        super().__init__(f"{method} failed: {reason}")
        self.method = method
        self.reason = reason
        self.status = status


class TelegramUnavailable(TelegramError):
    """Transient: the call may succeed if repeated later."""


class TelegramRejected(TelegramError):
    """The API refused the call; repeating it unchanged will not help (except for 409 later)."""

    def __init__(self, method: str, reason: str, status: int, migrate_to_chat_id: int | None = None) -> None:
        super().__init__(method, reason, status)
        self.migrate_to_chat_id = migrate_to_chat_id


class RetryAfter(TelegramError):
    """429 Too Many Requests; ``retry_after`` is the number of seconds Telegram asked us to wait."""

    def __init__(self, method: str, retry_after: int) -> None:
        super().__init__(method, f"rate limited, retry after {retry_after}s", 429)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Message:
    """The parts of an incoming message the bot looks at."""

    chat_id: int
    chat_type: str
    message_id: int
    text: str | None


@dataclass(frozen=True)
class Update:
    """One item from ``getUpdates``; ``message`` is None for kinds the bot ignores."""

    update_id: int
    message: Message | None


class TelegramClient:
    """Bot API client. ``sleep`` is injected so tests can observe ``retry_after`` waits."""

    def __init__(self, http: httpx.AsyncClient, *, token: str, api_base: str, sleep: Sleep) -> None:
        self._http = http
        self._token = token
        self._api_base = api_base.rstrip("/")
        self._sleep = sleep

    async def delete_webhook(self) -> None:
        """Remove any webhook so ``getUpdates`` works; pending updates are kept."""
        await self._call("deleteWebhook", {"drop_pending_updates": False})

    async def get_updates(self, offset: int | None, wait_seconds: int, limit: int = 100) -> list[Update]:
        """Long-poll up to ``wait_seconds`` for messages. Updates below ``offset`` are confirmed for good."""
        payload: dict[str, Any] = {"timeout": wait_seconds, "limit": limit, "allowed_updates": ["message"]}
        if offset is not None:
            payload["offset"] = offset
        read_timeout = httpx.Timeout(15.0, connect=10.0, read=wait_seconds + 15.0)
        result = await self._call("getUpdates", payload, http_timeout=read_timeout)
        if not isinstance(result, list):
            raise TelegramUnavailable("getUpdates", "result is not a list")
        return [update for item in result if (update := _parse_update(item)) is not None]

    async def send_message(self, chat_id: int, text: str) -> int:
        """Send plain text (no parse mode, so model output cannot break markup).

        Repeats after exactly ``retry_after`` seconds on 429, up to ``SEND_ATTEMPTS`` calls, and follows a
        group's migration to a supergroup once. Returns the chat id the message went to.
        """
        attempts = 1
        while True:
            try:
                await self._call("sendMessage", {"chat_id": chat_id, "text": text})
                return chat_id
            except RetryAfter as exc:
                if attempts >= SEND_ATTEMPTS:
                    raise
                log_event(
                    logger,
                    logging.WARNING,
                    "bot.rate_limited",
                    method="sendMessage",
                    chat_id=chat_id,
                    retry_after=exc.retry_after,
                )
                await self._sleep(exc.retry_after)
            except TelegramRejected as exc:
                if attempts >= SEND_ATTEMPTS or exc.migrate_to_chat_id in (None, chat_id):
                    raise
                chat_id = exc.migrate_to_chat_id
            attempts += 1

    async def send_chat_action(self, chat_id: int, action: str = "typing") -> None:
        """Show "typing..." for about five seconds; callers treat failure as harmless."""
        await self._call("sendChatAction", {"chat_id": chat_id, "action": action})

    async def _call(
        self, method: str, payload: dict[str, Any], *, http_timeout: httpx.Timeout = _TIMEOUT
    ) -> Any:
        url = f"{self._api_base}/bot{self._token}/{method}"
        try:
            response = await self._http.post(url, json=payload, timeout=http_timeout)
        except httpx.HTTPError as exc:
            reason = redact(f"{type(exc).__name__}: {exc}", [self._token])
            raise TelegramUnavailable(method, reason) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            status = response.status_code
            raise TelegramUnavailable(method, f"HTTP {status} without a JSON body", status)
        if body.get("ok") is True:
            return body.get("result")
        self._raise_for(method, response.status_code, body)

    def _raise_for(self, method: str, status: int, body: dict[str, Any]) -> NoReturn:
        code = error_code if isinstance(error_code := body.get("error_code"), int) else status
        description = redact(str(body.get("description", ""))[:200], [self._token])
        parameters = raw if isinstance(raw := body.get("parameters"), dict) else {}
        if code == 429:
            retry_after = parameters.get("retry_after")
            raise RetryAfter(method, retry_after if isinstance(retry_after, int) and retry_after >= 0 else 1)
        if code >= 500 or code < 400:
            raise TelegramUnavailable(method, f"HTTP {code}: {description}", code)
        migrate = parameters.get("migrate_to_chat_id")
        raise TelegramRejected(
            method, f"HTTP {code}: {description}", code, migrate if isinstance(migrate, int) else None
        )


def _parse_update(item: Any) -> Update | None:
    if not isinstance(item, dict) or not isinstance(item.get("update_id"), int):
        return None
    update_id: int = item["update_id"]
    raw = item.get("message")
    if not isinstance(raw, dict):
        return Update(update_id, None)
    chat = raw.get("chat")
    if not isinstance(chat, dict) or not isinstance(chat.get("id"), int):
        return Update(update_id, None)
    text = raw.get("text")
    return Update(
        update_id,
        Message(
            chat_id=chat["id"],
            chat_type=str(chat.get("type", "")),
            message_id=message_id if isinstance(message_id := raw.get("message_id"), int) else 0,
            text=text if isinstance(text, str) else None,
        ),
    )
