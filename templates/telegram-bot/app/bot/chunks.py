"""Split long replies into Telegram-sized messages.

Telegram accepts 1-4096 characters per message. Its offsets count UTF-16 code units, so we measure in
those: a chunk that fits in UTF-16 units also fits when counted in code points.
"""

from __future__ import annotations

TELEGRAM_MESSAGE_LIMIT = 4096
# Ordered by preference; a boundary is only used if it keeps the chunk at least half full.
_BOUNDARIES = ("\n\n", "\n", " ")


def utf16_length(text: str) -> int:
    """Length of ``text`` as Telegram counts it."""
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


def split_message(text: str, limit: int = TELEGRAM_MESSAGE_LIMIT) -> list[str]:
    """Split ``text`` into ordered chunks of at most ``limit`` UTF-16 units that join back to ``text``.

    Cuts after a paragraph break, else a newline, else a space, else mid-word.
    """
    if limit < 2:
        raise ValueError("limit must be at least 2")
    chunks: list[str] = []
    rest = text
    while utf16_length(rest) > limit:
        window = _fitting_prefix(rest, limit)
        cut = len(window)
        for boundary in _BOUNDARIES:
            index = window.rfind(boundary)
            if index >= len(window) // 2:
                cut = index + len(boundary)
                break
        chunks.append(rest[:cut])
        rest = rest[cut:]
    if rest:
        chunks.append(rest)
    return chunks


def _fitting_prefix(text: str, limit: int) -> str:
    units = 0
    for index, char in enumerate(text[:limit]):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return text[:index]
    return text[:limit]
