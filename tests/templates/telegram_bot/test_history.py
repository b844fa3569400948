"""Per-chat history stays within its turn and character bounds, and only MAX_CHATS chats are kept."""

from __future__ import annotations

import pytest
from bot.history import ChatHistories, Turn

from tests.templates.telegram_bot.conftest import Harness


class TestChatHistories:
    def test_keeps_only_the_last_turns(self) -> None:
        """Beyond max_turns the oldest turns are dropped."""
        histories = ChatHistories(max_turns=2, max_chars=10_000, max_chats=10)
        for i in range(5):
            histories.add(1, f"q{i}", f"a{i}")

        assert histories.turns(1) == [Turn("q3", "a3"), Turn("q4", "a4")]

    def test_character_budget_drops_oldest_turns(self) -> None:
        """When a chat's turns exceed max_chars, the oldest go first."""
        histories = ChatHistories(max_turns=10, max_chars=100, max_chats=10)
        histories.add(1, "a" * 30, "b" * 30)
        histories.add(1, "c" * 30, "d" * 30)

        assert histories.turns(1) == [Turn("c" * 30, "d" * 30)]

    def test_an_oversized_turn_is_clipped_to_the_budget(self) -> None:
        """A single turn larger than max_chars is kept, clipped to fit."""
        histories = ChatHistories(max_turns=10, max_chars=100, max_chats=10)
        histories.add(1, "q" * 500, "a" * 500)

        (turn,) = histories.turns(1)
        assert turn.size == 100
        assert turn == Turn("q" * 50, "a" * 50)

    def test_least_recently_used_chat_is_evicted(self) -> None:
        """With max_chats=2, touching chat 1 makes chat 2 the one evicted by chat 3."""
        histories = ChatHistories(max_turns=5, max_chars=1000, max_chats=2)
        histories.add(1, "q", "a")
        histories.add(2, "q", "a")
        histories.turns(1)
        histories.add(3, "q", "a")

        assert len(histories) == 2
        assert 1 in histories
        assert 2 not in histories
        assert 3 in histories

    def test_zero_turns_disables_history(self) -> None:
        """HISTORY_TURNS=0 keeps nothing."""
        histories = ChatHistories(max_turns=0, max_chars=1000, max_chats=2)
        histories.add(1, "q", "a")

        assert histories.turns(1) == []
        assert len(histories) == 0

    def test_reset_forgets_one_chat(self) -> None:
        """reset removes that chat only."""
        histories = ChatHistories(max_turns=5, max_chars=1000, max_chats=5)
        histories.add(1, "q", "a")
        histories.add(2, "q", "a")
        histories.reset(1)

        assert histories.turns(1) == []
        assert histories.turns(2) == [Turn("q", "a")]


@pytest.mark.anyio
async def test_router_sees_at_most_history_turns(harness: Harness) -> None:
    """With HISTORY_TURNS=2 the fifth message carries only the two previous exchanges."""
    bot = harness.bot(history_turns=2, system_prompt="")
    for i in range(5):
        harness.telegram.push_text(1, f"m{i}")
        await harness.exchange(bot)

    assert harness.router.requests[-1]["messages"] == [
        {"role": "user", "content": "m2"},
        {"role": "assistant", "content": "echo: m2"},
        {"role": "user", "content": "m3"},
        {"role": "assistant", "content": "echo: m3"},
        {"role": "user", "content": "m4"},
    ]


@pytest.mark.anyio
async def test_chat_count_is_bounded(harness: Harness) -> None:
    """With MAX_CHATS=2, a third chat evicts the least recently used one's history."""
    bot = harness.bot(max_chats=2, system_prompt="")
    for chat_id in (1, 2, 3):
        harness.telegram.push_text(chat_id, "hello")
        await harness.exchange(bot)
    harness.telegram.push_text(1, "remember?")
    await harness.exchange(bot)

    assert len(bot.histories) == 2
    assert harness.router.requests[-1]["messages"] == [{"role": "user", "content": "remember?"}]
