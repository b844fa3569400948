"""Generate per-stack secrets. Everything generated here is registered for redaction at once."""

from __future__ import annotations

import secrets
import string
from typing import Literal

from shared import redaction

SecretKind = Literal["token", "hex", "password", "sk"]
_ALPHANUMERIC = string.ascii_letters + string.digits


def generate(kind: SecretKind, length: int = 32) -> str:
    """A fresh secret: ``token`` (url-safe, ``length`` bytes), ``hex`` (``length`` bytes),
    ``password`` (``length`` letters and digits) or ``sk`` (``sk-`` + hex, LiteLLM's key format)."""
    if kind == "token":
        value = secrets.token_urlsafe(length)
    elif kind == "hex":
        value = secrets.token_hex(length)
    elif kind == "password":
        value = "".join(secrets.choice(_ALPHANUMERIC) for _ in range(length))
    elif kind == "sk":
        value = "sk-" + secrets.token_hex(length)
    else:  # pragma: no cover - Literal guards this
        raise ValueError(f"unknown secret kind {kind}")
    redaction.register(value)
    return value
