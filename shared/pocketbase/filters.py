"""Build PocketBase filter expressions with parameter binding.

PocketBase has no server-side parameter binding, so values are bound here: every ``{:name}``
placeholder is replaced by a correctly quoted and escaped literal. User values are never concatenated
into an expression by hand anywhere else in the code base.

    pb_filter("tenant = {:tenant} && name = {:name}", tenant=tenant_id, name=stack_name)
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

_PLACEHOLDER = re.compile(r"\{:([A-Za-z_][A-Za-z0-9_]*)\}")

FilterValue = str | int | float | bool | datetime | None


def pb_datetime(moment: datetime) -> str:
    """``moment`` as PocketBase stores and compares dates: ``2026-12-01 10:30:00.123Z`` (UTC, ms)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetimes are ambiguous; pass an aware datetime")
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"


def quote(value: FilterValue) -> str:
    """Render one value as a PocketBase filter literal."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime):
        # PocketBase compares dates as strings in this exact form; the ISO "T" form silently mismatches.
        value = pb_datetime(value)
    if not isinstance(value, str):
        raise TypeError(f"cannot bind a {type(value).__name__} into a filter")
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


def pb_filter(expression: str, **params: FilterValue) -> str:
    """Substitute ``{:name}`` placeholders in ``expression`` with bound, quoted ``params``.

    Raises ``KeyError`` for a placeholder without a value and ``ValueError`` for a value without a
    placeholder, so that a typo cannot silently widen a query.
    """
    used: set[str] = set()

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in params:
            raise KeyError(f"filter placeholder {{:{name}}} has no value")
        used.add(name)
        return quote(params[name])

    rendered = _PLACEHOLDER.sub(substitute, expression)
    unused = set(params) - used
    if unused:
        raise ValueError(f"filter parameters without a placeholder: {sorted(unused)}")
    return rendered
