"""Human-readable sizes and durations for alert text."""

from __future__ import annotations

import re

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def human_bytes(value: int | float) -> str:
    """``16777216`` → ``16 MiB``; one decimal below 10 units."""
    size = float(value)
    for unit in _UNITS:
        if abs(size) < 1024 or unit == _UNITS[-1]:
            if unit == "B":
                return f"{int(size)} B"
            return f"{size:.1f} {unit}" if abs(size) < 10 and size != int(size) else f"{size:.0f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def human_duration(seconds: float) -> str:
    """``600`` → ``10 min``; ``5400`` → ``1 h 30 min``; ``8.4`` → ``8.4 s``."""
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 and seconds != int(seconds) else f"{seconds:.0f} s"
    minutes = int(seconds // 60)
    if minutes < 60:
        rest = int(seconds % 60)
        return f"{minutes} min" + (f" {rest} s" if rest and minutes < 10 else "")
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h" + (f" {minutes} min" if minutes else "")
    return f"{hours // 24} d" + (f" {hours % 24} h" if hours % 24 else "")


def parse_duration(text: str) -> float:
    """``2h``, ``30m``, ``90s``, ``1d``, ``1h30m`` → seconds. Raises ValueError on anything else."""
    cleaned = text.strip().lower().replace(" ", "")
    parts = re.fullmatch(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", cleaned)
    if not cleaned or parts is None or not any(parts.groups()):
        raise ValueError(f"{text!r} is not a duration like 2h, 30m, 1h30m or 1d")
    days, hours, minutes, seconds = (int(p) if p else 0 for p in parts.groups())
    return float(days * 86400 + hours * 3600 + minutes * 60 + seconds)
