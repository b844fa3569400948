"""A text message goes to the router and the answer comes back to the right chat, once."""

from __future__ import annotations

import pytest
from bot.handler import GREETING, NOT_TEXT, REFUSAL, RESET_DONE

from tests.templates.telegram_bot.conftest import ROUTER_KEY, SYSTEM_PROMPT, Harness

pytestmark = pytest.mark.anyio


async def test_text_message_round_trips(harness: Harness) -> None:
    """The router gets system prompt + message with the bearer key; the chat gets the answer."""
    bot = harness.bot()
    harness.telegram.push_text(42, "hello there")

    assert await harness.exchange(bot) == 1

    assert harness.router.authorizations == [f"Bearer {ROUTER_KEY}"]
    assert harness.router.requests == [
        {
            "model": "test-model",
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": "hello there"},
            ],
            "stream": False,
        }
    ]
    assert harness.telegram.sent == [{"chat_id": 42, "text": "echo: hello there"}]
    assert harness.telegram.actions == [{"chat_id": 42, "action": "typing"}]


async def test_history_is_sent_with_the_next_message(harness: Harness) -> None:
    """The second message carries the first exchange as user/assistant history."""
    bot = harness.bot()
    harness.telegram.push_text(42, "first")
    await harness.exchange(bot)
    harness.telegram.push_text(42, "second")
    await harness.exchange(bot)

    assert harness.router.requests[1]["messages"] == [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "echo: first"},
        {"role": "user", "content": "second"},
    ]


async def test_no_system_message_without_a_system_prompt(harness: Harness) -> None:
    """An empty SYSTEM_PROMPT sends only the conversation."""
    bot = harness.bot(system_prompt="")
    harness.telegram.push_text(42, "hi")
    await harness.exchange(bot)

    assert harness.router.requests[0]["messages"] == [{"role": "user", "content": "hi"}]


async def test_offset_advances_so_each_update_is_handled_once(harness: Harness) -> None:
    """Each poll asks for last update_id + 1, so a second poll handles nothing twice."""
    bot = harness.bot()
    harness.telegram.push_text(1, "a")
    last = harness.telegram.push_text(2, "b")

    assert await harness.exchange(bot) == 2
    assert await harness.exchange(bot) == 0

    assert "offset" not in harness.telegram.polls[0]
    assert harness.telegram.polls[1]["offset"] == last + 1
    assert bot.poller.offset == last + 1
    assert len(harness.router.requests) == 2
    assert sorted(body["chat_id"] for body in harness.telegram.sent) == [1, 2]


async def test_poll_asks_for_messages_only_with_a_long_timeout(harness: Harness) -> None:
    """getUpdates is a long poll restricted to message updates."""
    bot = harness.bot()
    await harness.exchange(bot)

    poll = harness.telegram.polls[0]
    assert poll["timeout"] == 25
    assert poll["allowed_updates"] == ["message"]


async def test_webhook_is_deleted_once_before_polling(harness: Harness) -> None:
    """deleteWebhook precedes the first getUpdates and is not repeated while polling works."""
    bot = harness.bot()
    await harness.exchange(bot)
    await harness.exchange(bot)

    assert harness.telegram.calls == ["deleteWebhook", "getUpdates", "getUpdates"]


async def test_messages_of_one_chat_are_answered_in_order(harness: Harness) -> None:
    """Several messages from one chat in one batch are answered in arrival order."""
    bot = harness.bot()
    for text in ("one", "two", "three"):
        harness.telegram.push_text(7, text)

    await harness.exchange(bot)

    assert harness.telegram.texts_to(7) == ["echo: one", "echo: two", "echo: three"]
    assert [r["messages"][-1]["content"] for r in harness.router.requests] == ["one", "two", "three"]


async def test_disallowed_chat_is_refused_without_calling_the_router(harness: Harness) -> None:
    """A chat outside ALLOWED_CHAT_IDS gets a polite refusal and costs no router call."""
    bot = harness.bot(allowed_chat_ids=frozenset({1}))
    harness.telegram.push_text(2, "let me in")
    harness.telegram.push_text(1, "hello")

    await harness.exchange(bot)

    assert harness.telegram.texts_to(2) == [REFUSAL]
    assert harness.telegram.texts_to(1) == ["echo: hello"]
    assert [r["messages"][-1]["content"] for r in harness.router.requests] == ["hello"]


async def test_start_greets_without_calling_the_router(harness: Harness) -> None:
    """/start (also addressed as /start@bot) answers with the greeting."""
    bot = harness.bot()
    harness.telegram.push_text(3, "/start")
    harness.telegram.push_text(3, "/start@CloudFreedomBot")

    await harness.exchange(bot)

    assert harness.telegram.texts_to(3) == [GREETING, GREETING]
    assert harness.router.requests == []


async def test_reset_clears_only_that_chats_history(harness: Harness) -> None:
    """/reset forgets the chat's history; the next message starts fresh, other chats keep theirs."""
    bot = harness.bot(system_prompt="")
    harness.telegram.push_text(3, "remember me")
    harness.telegram.push_text(4, "me too")
    await harness.exchange(bot)
    harness.telegram.push_text(3, "/reset")
    await harness.exchange(bot)
    harness.telegram.push_text(3, "who am I?")
    harness.telegram.push_text(4, "and me?")
    await harness.exchange(bot)

    assert harness.telegram.texts_to(3)[1] == RESET_DONE
    by_last = {r["messages"][-1]["content"]: r["messages"] for r in harness.router.requests}
    assert by_last["who am I?"] == [{"role": "user", "content": "who am I?"}]
    assert len(by_last["and me?"]) == 3


async def test_non_text_gets_a_note_in_private_chats_only(harness: Harness) -> None:
    """A photo in a private chat gets a short note; a group service message gets nothing."""
    bot = harness.bot()
    harness.telegram.push_message({"chat": {"id": 5, "type": "private"}, "photo": [{"file_id": "x"}]})
    harness.telegram.push_message({"chat": {"id": -100, "type": "group"}, "new_chat_members": []})

    await harness.exchange(bot)

    assert harness.telegram.sent == [{"chat_id": 5, "text": NOT_TEXT}]
    assert harness.router.requests == []


async def test_updates_without_a_message_are_confirmed_and_ignored(harness: Harness) -> None:
    """An update of another kind advances the offset and triggers nothing."""
    bot = harness.bot()
    harness.telegram.updates.append({"update_id": 500, "edited_message": {"text": "x"}})

    await harness.exchange(bot)
    await harness.exchange(bot)

    assert harness.telegram.polls[1]["offset"] == 501
    assert harness.telegram.sent == []
