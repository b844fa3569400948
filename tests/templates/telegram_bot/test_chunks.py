"""Replies longer than Telegram's 4096-character limit arrive as ordered chunks that rejoin exactly."""

from __future__ import annotations

import pytest
from bot.chunks import TELEGRAM_MESSAGE_LIMIT, split_message, utf16_length

from tests.templates.telegram_bot.conftest import Harness


def _paragraphs(count: int, width: int) -> str:
    return "\n\n".join(f"Paragraph {i}: " + "word " * width for i in range(count))


class TestSplitMessage:
    def test_short_text_is_one_chunk(self) -> None:
        """Text within the limit is returned unchanged as a single chunk."""
        assert split_message("hello") == ["hello"]
        assert split_message("x" * TELEGRAM_MESSAGE_LIMIT) == ["x" * TELEGRAM_MESSAGE_LIMIT]

    def test_chunks_fit_and_rejoin(self) -> None:
        """Every chunk is at most 4096 characters and the chunks join back to the input."""
        text = _paragraphs(40, 60)
        chunks = split_message(text)

        assert len(chunks) > 1
        assert all(len(chunk) <= TELEGRAM_MESSAGE_LIMIT for chunk in chunks)
        assert "".join(chunks) == text

    def test_prefers_paragraph_then_newline_then_space(self) -> None:
        """Cuts land after a paragraph break when one is near the end, else a newline, else a space."""
        paragraph = "a" * 70 + "\n\n" + "b" * 50
        assert split_message(paragraph, limit=100) == ["a" * 70 + "\n\n", "b" * 50]
        line = "a" * 70 + "\n" + "b" * 50
        assert split_message(line, limit=100) == ["a" * 70 + "\n", "b" * 50]
        words = "a" * 70 + " " + "b" * 50
        assert split_message(words, limit=100) == ["a" * 70 + " ", "b" * 50]

    def test_an_early_boundary_does_not_make_a_tiny_chunk(self) -> None:
        """A break in the first half of the window is skipped for a later, weaker one."""
        text = "a" * 10 + "\n\n" + "b" * 70 + " " + "c" * 50
        assert split_message(text, limit=100)[0] == "a" * 10 + "\n\n" + "b" * 70 + " "

    def test_text_without_boundaries_is_cut_hard(self) -> None:
        """One very long word is cut at the limit."""
        assert split_message("x" * 250, limit=100) == ["x" * 100, "x" * 100, "x" * 50]

    def test_limit_counts_utf16_units(self) -> None:
        """Characters outside the BMP count twice, as Telegram counts them, and are never split."""
        text = "\N{GRINNING FACE}" * 3000
        chunks = split_message(text)

        assert all(utf16_length(chunk) <= TELEGRAM_MESSAGE_LIMIT for chunk in chunks)
        assert [len(chunk) for chunk in chunks] == [2048, 952]
        assert "".join(chunks) == text


@pytest.mark.anyio
async def test_long_reply_is_sent_as_ordered_chunks(harness: Harness) -> None:
    """A 10,000+ character answer reaches the chat as several messages, in order, rejoining exactly."""
    answer = _paragraphs(60, 30)
    assert len(answer) > 2 * TELEGRAM_MESSAGE_LIMIT
    harness.router.reply_with(answer)
    bot = harness.bot()
    harness.telegram.push_text(9, "write a lot")

    await harness.exchange(bot)

    texts = harness.telegram.texts_to(9)
    assert len(texts) == len(split_message(answer)) >= 3
    assert all(len(text) <= TELEGRAM_MESSAGE_LIMIT for text in texts)
    assert "".join(texts) == answer
