"""Short per-chat conversation memory with hard bounds.

Three limits keep memory flat whatever users do: at most ``max_turns`` user/assistant pairs per chat,
at most ``max_chars`` characters per chat (oldest turns dropped first, the newest turn always kept but
clipped), and at most ``max_chats`` chats (least recently used evicted). Worst case is roughly
``max_chats * max_chars`` characters, e.g. 1000 * 16,000 = 16 M characters (16-64 MB of str).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass


@dataclass(frozen=True)
class Turn:
    """One exchange: what the user wrote and what the assistant answered."""

    user: str
    assistant: str

    @property
    def size(self) -> int:
        return len(self.user) + len(self.assistant)


class ChatHistories:
    """Bounded, LRU-evicted histories keyed by chat id. Not thread-safe; one event loop uses it."""

    def __init__(self, *, max_turns: int, max_chars: int, max_chats: int) -> None:
        self._max_turns = max_turns
        self._max_chars = max_chars
        self._max_chats = max_chats
        self._chats: OrderedDict[int, deque[Turn]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._chats)

    def __contains__(self, chat_id: object) -> bool:
        return chat_id in self._chats

    def turns(self, chat_id: int) -> list[Turn]:
        """The chat's turns, oldest first; marks the chat as recently used."""
        if chat_id not in self._chats:
            return []
        self._chats.move_to_end(chat_id)
        return list(self._chats[chat_id])

    def add(self, chat_id: int, user: str, assistant: str) -> None:
        """Record a turn, then trim the chat and evict the least recently used chats."""
        if self._max_turns == 0 or self._max_chars == 0:
            return
        turn = _clip(Turn(user, assistant), self._max_chars)
        turns = self._chats.setdefault(chat_id, deque())
        self._chats.move_to_end(chat_id)
        turns.append(turn)
        total = sum(t.size for t in turns)
        while len(turns) > self._max_turns or (len(turns) > 1 and total > self._max_chars):
            total -= turns.popleft().size
        while len(self._chats) > self._max_chats:
            self._chats.popitem(last=False)

    def reset(self, chat_id: int) -> None:
        """Forget one chat."""
        self._chats.pop(chat_id, None)


def _clip(turn: Turn, max_chars: int) -> Turn:
    if turn.size <= max_chars:
        return turn
    user = turn.user[: max_chars // 2]
    return Turn(user, turn.assistant[: max_chars - len(user)])
