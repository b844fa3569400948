"""Keep secret values out of everything a person or a log collector can read.

Secrets are registered the moment they are generated or read (``register``); ``scrub`` replaces any
registered value found in a string, mapping or list with ``***``. The logging pipeline and the dry-run
printer both scrub, so a secret that slips into a log field or a request body is still masked. The
first line of defence stays the same: never put a secret into a log field in the first place.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from pydantic import SecretStr

MASK = "***"
# Shorter strings are too likely to be ordinary words; secrets we generate are far longer.
_MIN_SECRET_LENGTH = 6

_lock = threading.Lock()
_secrets: set[str] = set()


def register(*values: str | SecretStr | None) -> None:
    """Remember values that must never be shown."""
    with _lock:
        for value in values:
            raw = value.get_secret_value() if isinstance(value, SecretStr) else value
            if raw and len(raw) >= _MIN_SECRET_LENGTH:
                _secrets.add(raw)


def register_all(values: Iterable[str]) -> None:
    register(*values)


def forget_all() -> None:
    """Only for tests: start from an empty registry."""
    with _lock:
        _secrets.clear()


def scrub(value: Any) -> Any:
    """Return ``value`` with every registered secret replaced by ``***`` (recursively)."""
    with _lock:
        # Longest first, so a secret that contains another is masked whole.
        secrets = sorted(_secrets, key=len, reverse=True)
    if not secrets:
        return value
    return _scrub(value, secrets)


def _scrub(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, MASK)
        return value
    if isinstance(value, SecretStr):
        return MASK
    if isinstance(value, dict):
        return {key: _scrub(item, secrets) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_scrub(item, secrets) for item in value)
    return value
