"""Logs are JSON lines with event names; they never carry the token, the key or message text."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import anyio
import httpx
import pytest
from bot.logs import configure_logging, log_event

from tests.templates.telegram_bot.conftest import ROUTER_KEY, TOKEN, Harness


def _events(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines()]


def _capture(level: str) -> io.StringIO:
    stream = io.StringIO()
    configure_logging(level, [TOKEN, ROUTER_KEY], stream)
    return stream


def test_secrets_are_masked_in_fields_and_tracebacks() -> None:
    """A secret inside a field or an exception's text is rendered as ***."""
    stream = _capture("INFO")
    try:
        raise RuntimeError(f"POST https://api.telegram.org/bot{TOKEN}/getUpdates failed")
    except RuntimeError:
        logging.getLogger("bot").exception(
            "bot.poll_crashed", extra={"cf_fields": {"url": f"/bot{TOKEN}/sendMessage", "key": ROUTER_KEY}}
        )

    output = stream.getvalue()
    (event,) = _events(output)
    assert TOKEN not in output
    assert ROUTER_KEY not in output
    assert (event["url"], event["key"]) == ("/bot***/sendMessage", "***")
    assert "/bot***/getUpdates" in event["exc_info"]


def test_lines_are_json_with_event_level_and_fields() -> None:
    """Each log call becomes one JSON object with ts, level, logger, event and the given fields."""
    stream = _capture("INFO")
    log_event(logging.getLogger("bot"), logging.INFO, "bot.reply_sent", chat_id=42, chunks=2)
    log_event(logging.getLogger("bot"), logging.DEBUG, "bot.hidden_at_info")

    (event,) = _events(stream.getvalue())
    assert event["event"] == "bot.reply_sent"
    assert event["level"] == "info"
    assert event["logger"] == "bot"
    assert (event["chat_id"], event["chunks"]) == (42, 2)
    assert event["ts"].endswith("Z")


@pytest.mark.anyio
async def test_token_never_logged_when_telegram_requests_fail(harness: Harness) -> None:
    """Network errors whose text contains the Bot API URL are logged with the token masked."""
    stream = _capture("DEBUG")
    logging.getLogger("httpx").setLevel(logging.DEBUG)

    def leaky(request: httpx.Request) -> Exception:
        return httpx.ConnectError(f"cannot connect to {request.url}", request=request)

    harness.telegram_transport.errors.extend([leaky, leaky])
    harness.telegram.fail("getUpdates", 500, f"token {TOKEN} echoed back")
    bot = harness.bot()

    def stop_after_three_failures() -> None:
        if len(harness.sleep.calls) == 3:
            bot.poller.stop()

    harness.sleep.on_sleep.append(stop_after_three_failures)

    with anyio.fail_after(5):
        await bot.poller.run()

    output = stream.getvalue()
    events = _events(output)
    assert [e["event"] for e in events if e["event"] == "bot.poll_failed"] == ["bot.poll_failed"] * 3
    assert TOKEN not in output
    assert "/bot***/deleteWebhook" in output


@pytest.mark.anyio
async def test_no_message_text_or_key_in_logs_even_at_debug(harness: Harness) -> None:
    """A full round trip logs event names, ids and lengths but not what the user or the model said."""
    stream = _capture("DEBUG")
    bot = harness.bot()
    harness.telegram.push_text(42, "my secret diary entry")

    await harness.exchange(bot)

    output = stream.getvalue()
    names = [e["event"] for e in _events(output)]
    assert names == ["bot.webhook_deleted", "bot.update_received", "bot.router_answered", "bot.reply_sent"]
    assert "diary" not in output
    assert TOKEN not in output
    assert ROUTER_KEY not in output


@pytest.mark.anyio
async def test_router_failure_is_logged_with_a_reason(harness: Harness) -> None:
    """A failed router call logs bot.router_failed with the reason and status, at warning level."""
    stream = _capture("INFO")
    harness.router.fail(503)
    bot = harness.bot()
    harness.telegram.push_text(42, "hi")

    await harness.exchange(bot)

    (failed,) = [e for e in _events(stream.getvalue()) if e["event"] == "bot.router_failed"]
    assert (failed["level"], failed["reason"], failed["status"], failed["chat_id"]) == (
        "warning",
        "http_503",
        503,
        42,
    )


@pytest.mark.anyio
async def test_rate_limited_send_is_logged_with_retry_after(harness: Harness) -> None:
    """A 429 on sendMessage logs bot.rate_limited with the chat and the wait before retrying."""
    stream = _capture("INFO")
    harness.telegram.rate_limit("sendMessage", retry_after=4)
    bot = harness.bot()
    harness.telegram.push_text(42, "hi")

    await harness.exchange(bot)

    (limited,) = [e for e in _events(stream.getvalue()) if e["event"] == "bot.rate_limited"]
    assert (limited["method"], limited["chat_id"], limited["retry_after"]) == ("sendMessage", 42, 4)
