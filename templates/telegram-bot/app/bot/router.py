"""The tenant's CloudFreedom Router: one OpenAI-compatible ``POST {base}/chat/completions`` call.

Every failure (network, timeout, non-2xx, unexpected JSON, empty answer) becomes ``RouterError`` with a
short machine-readable ``reason``; the caller turns it into a polite reply. Neither the key nor the
prompt ever appears in the error.
"""

from __future__ import annotations

from typing import Any, TypedDict

import httpx

from bot.logs import redact


class ChatMessage(TypedDict):
    """One OpenAI chat message."""

    role: str
    content: str


class RouterError(Exception):
    """The router gave no usable answer. ``reason``: timeout, network, http_<status>, bad_response."""

    def __init__(self, reason: str, status: int | None = None, detail: str = "") -> None:
        super().__init__(f"router call failed: {reason}" + (f" ({detail})" if detail else ""))
        self.reason = reason
        self.status = status


class RouterClient:
    """Chat completions against ``base_url`` (which already ends in ``/v1``)."""

    def __init__(
        self, http: httpx.AsyncClient, *, base_url: str, api_key: str, model: str, timeout_seconds: float
    ) -> None:
        self._http = http
        self._url = f"{base_url.rstrip('/')}/chat/completions"
        self._api_key = api_key
        self._model = model
        self._timeout = httpx.Timeout(timeout_seconds, connect=10.0)

    async def complete(self, messages: list[ChatMessage]) -> str:
        """Return the assistant's answer to ``messages``; raise ``RouterError`` otherwise."""
        try:
            response = await self._http.post(
                self._url,
                json={"model": self._model, "messages": messages, "stream": False},
                headers={"Authorization": f"Bearer {self._api_key}"},
                timeout=self._timeout,
            )
        except httpx.TimeoutException:
            raise RouterError("timeout") from None
        except httpx.HTTPError as exc:
            raise RouterError("network", detail=redact(type(exc).__name__, [self._api_key])) from None
        if not response.is_success:
            raise RouterError(f"http_{response.status_code}", response.status_code)
        try:
            content = _answer(response.json())
        except ValueError:
            raise RouterError("bad_response", response.status_code) from None
        if not content.strip():
            raise RouterError("empty_answer", response.status_code)
        return content


def _answer(body: Any) -> str:
    try:
        content = body["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise ValueError("no choices[0].message.content") from None
    if not isinstance(content, str):
        raise ValueError("content is not a string")
    return content
