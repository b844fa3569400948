"""A 429 from Telegram is waited out for exactly ``retry_after`` seconds, then the call is repeated."""

from __future__ import annotations

import anyio
import pytest
from bot.telegram import SEND_ATTEMPTS

from tests.templates.telegram_bot.conftest import Harness

pytestmark = pytest.mark.anyio


async def test_send_message_waits_retry_after_then_succeeds(harness: Harness) -> None:
    """sendMessage answered 429 (retry_after=7) is repeated after sleeping exactly 7 seconds."""
    harness.telegram.rate_limit("sendMessage", retry_after=7)
    bot = harness.bot()
    harness.telegram.push_text(42, "hi")

    await harness.exchange(bot)

    assert harness.sleep.calls == [7]
    assert harness.telegram.calls.count("sendMessage") == 2
    assert harness.telegram.texts_to(42) == ["echo: hi"]


async def test_each_429_is_honoured_in_turn(harness: Harness) -> None:
    """Consecutive 429s are each waited out with their own retry_after."""
    harness.telegram.rate_limit("sendMessage", retry_after=3)
    harness.telegram.rate_limit("sendMessage", retry_after=11)
    bot = harness.bot()
    harness.telegram.push_text(42, "hi")

    await harness.exchange(bot)

    assert harness.sleep.calls == [3, 11]
    assert harness.telegram.texts_to(42) == ["echo: hi"]


async def test_send_gives_up_after_bounded_attempts_and_polling_goes_on(harness: Harness) -> None:
    """Endless 429s stop after SEND_ATTEMPTS calls; the next message is still answered."""
    for _ in range(SEND_ATTEMPTS):
        harness.telegram.rate_limit("sendMessage", retry_after=1)
    bot = harness.bot()
    harness.telegram.push_text(42, "hi")
    await harness.exchange(bot)
    harness.telegram.push_text(42, "again")
    await harness.exchange(bot)

    assert harness.telegram.calls.count("sendMessage") == SEND_ATTEMPTS + 1
    assert harness.sleep.calls == [1] * (SEND_ATTEMPTS - 1)
    assert harness.telegram.texts_to(42) == ["echo: again"]


async def test_get_updates_429_waits_retry_after_in_the_poll_loop(harness: Harness) -> None:
    """A rate-limited getUpdates sleeps exactly retry_after, then polling delivers the message."""
    harness.telegram.rate_limit("getUpdates", retry_after=5)
    bot = harness.bot()
    harness.telegram.push_text(42, "hi")

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(bot.poller.run)
        with anyio.fail_after(5):
            await harness.telegram.delivered.wait()
        bot.poller.stop()

    assert harness.sleep.calls[0] == 5
    assert harness.telegram.texts_to(42) == ["echo: hi"]


async def test_group_migration_is_followed_once(harness: Harness) -> None:
    """A 400 with migrate_to_chat_id re-sends the reply to the new supergroup id."""
    harness.telegram.script(
        "sendMessage",
        400,
        {
            "ok": False,
            "error_code": 400,
            "description": "Bad Request: group chat was upgraded to a supergroup chat",
            "parameters": {"migrate_to_chat_id": -1001},
        },
    )
    bot = harness.bot()
    harness.telegram.push_text(-5, "hi", chat_type="group")

    await harness.exchange(bot)

    assert harness.telegram.sent == [{"chat_id": -1001, "text": "echo: hi"}]
