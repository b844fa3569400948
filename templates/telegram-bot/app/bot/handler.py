"""What the bot does with one incoming message. Every path ends in at most one reply, never a raise.

Order of checks: allow-list (refuse without calling the router), non-text (a note, private chats only,
so group service messages stay silent), ``/start`` and ``/reset``, then the router round trip.
"""

from __future__ import annotations

import logging
import time

from bot.chunks import split_message
from bot.history import ChatHistories
from bot.logs import log_event
from bot.router import ChatMessage, RouterClient, RouterError
from bot.telegram import Message, TelegramClient, TelegramError

logger = logging.getLogger("bot")

GREETING = "Hi! Send me a message and I'll pass it to the assistant. Send /reset to start a new conversation."
RESET_DONE = "Done: I've forgotten our conversation so far."
REFUSAL = "Sorry, this bot is private and not available in this chat."
NOT_TEXT = "Sorry, I can only read text messages."
ROUTER_FAILED = "Sorry, I couldn't reach the assistant right now. Please try again in a moment."


class MessageHandler:
    """Turns a ``Message`` into a reply. Callers serialise calls per chat (history is per chat)."""

    def __init__(
        self,
        *,
        telegram: TelegramClient,
        router: RouterClient,
        histories: ChatHistories,
        allowed_chat_ids: frozenset[int],
        system_prompt: str,
    ) -> None:
        self._telegram = telegram
        self._router = router
        self._histories = histories
        self._allowed = allowed_chat_ids
        self._system_prompt = system_prompt

    async def handle(self, message: Message) -> None:
        """Answer ``message``; failures are logged and apologised for, never raised."""
        try:
            await self._handle(message)
        except Exception as exc:
            # A bug, not an outage: say so in the log (type only; text could hold content), apologise.
            log_event(
                logger,
                logging.ERROR,
                "bot.handler_failed",
                chat_id=message.chat_id,
                error_type=type(exc).__name__,
            )
            await self._reply(message.chat_id, ROUTER_FAILED)

    async def _handle(self, message: Message) -> None:
        chat_id = message.chat_id
        if self._allowed and chat_id not in self._allowed:
            log_event(logger, logging.INFO, "bot.chat_refused", chat_id=chat_id)
            await self._reply(chat_id, REFUSAL)
            return
        if message.text is None:
            if message.chat_type == "private":
                await self._reply(chat_id, NOT_TEXT)
            return
        command = _command(message.text)
        if command in ("/start", "/help"):
            await self._reply(chat_id, GREETING)
        elif command == "/reset":
            self._histories.reset(chat_id)
            log_event(logger, logging.INFO, "bot.history_reset", chat_id=chat_id)
            await self._reply(chat_id, RESET_DONE)
        else:
            await self._answer(chat_id, message.text)

    async def _answer(self, chat_id: int, text: str) -> None:
        try:
            await self._telegram.send_chat_action(chat_id)
        except TelegramError as exc:
            log_event(logger, logging.DEBUG, "bot.chat_action_failed", chat_id=chat_id, reason=str(exc))
        started = time.monotonic()
        try:
            answer = await self._router.complete(self._prompt(chat_id, text))
        except RouterError as exc:
            log_event(
                logger,
                logging.WARNING,
                "bot.router_failed",
                chat_id=chat_id,
                reason=exc.reason,
                status=exc.status,
            )
            await self._reply(chat_id, ROUTER_FAILED)
            return
        log_event(
            logger,
            logging.DEBUG,
            "bot.router_answered",
            chat_id=chat_id,
            prompt_chars=len(text),
            answer_chars=len(answer),
            duration_ms=round((time.monotonic() - started) * 1000),
        )
        self._histories.add(chat_id, text, answer)
        await self._reply(chat_id, answer)

    def _prompt(self, chat_id: int, text: str) -> list[ChatMessage]:
        messages: list[ChatMessage] = []
        if self._system_prompt:
            messages.append({"role": "system", "content": self._system_prompt})
        for turn in self._histories.turns(chat_id):
            messages.append({"role": "user", "content": turn.user})
            messages.append({"role": "assistant", "content": turn.assistant})
        messages.append({"role": "user", "content": text})
        return messages

    async def _reply(self, chat_id: int, text: str) -> None:
        """Send ``text`` in as many messages as needed, in order; stop at the first failed chunk."""
        chunks = [chunk for chunk in split_message(text) if chunk.strip()]
        for index, chunk in enumerate(chunks):
            try:
                chat_id = await self._telegram.send_message(chat_id, chunk)
            except TelegramError as exc:
                log_event(
                    logger,
                    logging.WARNING,
                    "bot.send_failed",
                    chat_id=chat_id,
                    chunk=index + 1,
                    chunks=len(chunks),
                    reason=str(exc),
                )
                return
        log_event(logger, logging.INFO, "bot.reply_sent", chat_id=chat_id, chunks=len(chunks))


def _command(text: str) -> str | None:
    """``/reset@SomeBot extra`` -> ``/reset``; None when the text is not a command."""
    if not text.startswith("/"):
        return None
    return text.split(maxsplit=1)[0].split("@", 1)[0].lower()
