"""Router and Telegram failures end in a polite reply or a back-off, never in a crashed loop."""

from __future__ import annotations

from collections.abc import Callable

import anyio
import httpx
import pytest
from bot.handler import ROUTER_FAILED
from bot.poller import Backoff

from tests.templates.telegram_bot.conftest import Harness

pytestmark = pytest.mark.anyio


def _read_timeout(request: httpx.Request) -> Exception:
    return httpx.ReadTimeout("timed out", request=request)


def _refused(request: httpx.Request) -> Exception:
    return httpx.ConnectError("[Errno 111] Connection refused", request=request)


class TestRouterFailures:
    @pytest.mark.parametrize(
        ("status", "body"),
        [
            (500, '{"error": {"message": "boom"}}'),
            (502, "<html>bad gateway</html>"),
            (401, '{"error": {"message": "invalid key"}}'),
            (200, "this is not json"),
            (200, '{"choices": []}'),
            (200, '{"choices": [{"message": {"role": "assistant", "content": null}}]}'),
            (200, '{"choices": [{"message": {"role": "assistant", "content": "   "}}]}'),
        ],
    )
    async def test_bad_answer_gives_one_polite_reply(self, harness: Harness, status: int, body: str) -> None:
        """Any unusable router response yields exactly one apology in that chat."""
        harness.router.fail(status, body)
        bot = harness.bot()
        harness.telegram.push_text(42, "hi")

        await harness.exchange(bot)

        assert harness.telegram.texts_to(42) == [ROUTER_FAILED]

    @pytest.mark.parametrize("error", [_read_timeout, _refused])
    async def test_timeout_or_network_error_gives_one_polite_reply(
        self, harness: Harness, error: Callable[[httpx.Request], Exception]
    ) -> None:
        """A router timeout or refused connection yields exactly one apology."""
        harness.router_transport.errors.append(error)
        bot = harness.bot()
        harness.telegram.push_text(42, "hi")

        await harness.exchange(bot)

        assert harness.telegram.texts_to(42) == [ROUTER_FAILED]

    async def test_loop_continues_and_failure_leaves_no_history(self, harness: Harness) -> None:
        """After a failure the next message is answered normally, without the failed turn in history."""
        harness.router.fail(500)
        bot = harness.bot(system_prompt="")
        harness.telegram.push_text(42, "first")
        await harness.exchange(bot)
        harness.telegram.push_text(42, "second")
        await harness.exchange(bot)

        assert harness.telegram.texts_to(42) == [ROUTER_FAILED, "echo: second"]
        assert harness.router.requests[1]["messages"] == [{"role": "user", "content": "second"}]

    async def test_failure_in_one_chat_does_not_affect_another(self, harness: Harness) -> None:
        """Two chats in one batch: the one whose call fails gets an apology, the other its answer."""
        harness.router.fail(503)
        bot = harness.bot()
        harness.telegram.push_text(1, "unlucky")
        harness.telegram.push_text(2, "lucky")

        await harness.exchange(bot)

        assert harness.telegram.texts_to(1) == [ROUTER_FAILED]
        assert harness.telegram.texts_to(2) == ["echo: lucky"]


class TestTelegramFailures:
    async def test_failed_send_is_logged_not_raised(self, harness: Harness) -> None:
        """A 403 (user blocked the bot) on sendMessage drops that reply and polling continues."""
        harness.telegram.fail("sendMessage", 403, "Forbidden: bot was blocked by the user")
        bot = harness.bot()
        harness.telegram.push_text(42, "hi")
        await harness.exchange(bot)
        harness.telegram.push_text(42, "again")
        await harness.exchange(bot)

        assert harness.telegram.texts_to(42) == ["echo: again"]

    async def test_poll_errors_back_off_exponentially_then_recover(self, harness: Harness) -> None:
        """Repeated poll failures wait 1, 2, 4... seconds; the message is handled once Telegram is back."""
        harness.telegram.fail("getUpdates", 502, "Bad Gateway")
        harness.telegram_transport.errors.extend([_refused, _read_timeout])
        harness.telegram.fail("getUpdates", 500)
        bot = harness.bot()
        harness.telegram.push_text(42, "hi")

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(bot.poller.run)
            with anyio.fail_after(5):
                await harness.telegram.delivered.wait()
            bot.poller.stop()

        # The transport errors hit deleteWebhook first; the loop retries it, then polls.
        assert harness.sleep.calls[:4] == [1.0, 2.0, 4.0, 8.0]
        assert harness.telegram.texts_to(42) == ["echo: hi"]

    async def test_conflict_deletes_the_webhook_again(self, harness: Harness) -> None:
        """A 409 on getUpdates (webhook set or a second poller) backs off and re-deletes the webhook."""
        harness.telegram.fail(
            "getUpdates", 409, "Conflict: can't use getUpdates method while webhook is active"
        )
        bot = harness.bot()
        harness.telegram.push_text(42, "hi")

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(bot.poller.run)
            with anyio.fail_after(5):
                await harness.telegram.delivered.wait()
            bot.poller.stop()

        assert harness.telegram.webhook_deletions == 2
        assert harness.sleep.calls[0] == 1.0
        assert harness.telegram.texts_to(42) == ["echo: hi"]


def test_backoff_doubles_up_to_the_cap_and_resets() -> None:
    """Delays double from `initial`, stop at `cap`, and start over after `reset`."""
    backoff = Backoff(initial=1.0, cap=10.0)

    assert [backoff.next_delay() for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    backoff.reset()
    assert backoff.next_delay() == 1.0
