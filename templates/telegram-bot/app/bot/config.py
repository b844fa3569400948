"""Settings from the environment, validated once at start-up.

``Config.from_env`` is the only place that reads the environment. Every error names the variable and
never its value, because two of them are secrets.

The system prompt may come base64-encoded as ``SYSTEM_PROMPT_B64`` (what the stack template sets):
free text then reaches the bot exactly as the tenant typed it, whatever a platform on the way (Coolify
reads ``$``, ``{{…}}`` and ``$SERVICE_…`` in environment values) would otherwise do to it.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

DEFAULT_MODEL = "gpt-4o-mini"
DEFAULT_TELEGRAM_API_BASE = "https://api.telegram.org"


class ConfigError(ValueError):
    """A variable is missing or malformed; the message names the variable, never its value."""


@dataclass(frozen=True, kw_only=True)
class Config:
    """Everything the bot needs to run. Secrets are kept out of ``repr``."""

    telegram_token: str = field(repr=False)
    router_base_url: str
    router_api_key: str = field(repr=False)
    router_model: str = DEFAULT_MODEL
    system_prompt: str = ""
    allowed_chat_ids: frozenset[int] = frozenset()
    history_turns: int = 10
    history_max_chars: int = 16_000
    max_chats: int = 1000
    health_port: int = 8081
    health_stall_seconds: float = 90.0
    telegram_api_base: str = DEFAULT_TELEGRAM_API_BASE
    poll_timeout_seconds: int = 25
    router_timeout_seconds: float = 120.0
    max_concurrent_chats: int = 8
    log_level: str = "INFO"

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values that must never appear in a log line."""
        return (self.telegram_token, self.router_api_key)

    def chat_allowed(self, chat_id: int) -> bool:
        """An empty allow-list lets every chat in."""
        return not self.allowed_chat_ids or chat_id in self.allowed_chat_ids

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Config:
        """Build a config from ``environ``; raise ``ConfigError`` on the first bad variable."""
        env = _Env(environ)
        return cls(
            telegram_token=env.required("TELEGRAM_BOT_TOKEN"),
            router_base_url=env.url("ROUTER_BASE_URL", required=True),
            router_api_key=env.required("ROUTER_API_KEY"),
            router_model=env.text("ROUTER_MODEL") or DEFAULT_MODEL,
            system_prompt=env.text_or_base64("SYSTEM_PROMPT"),
            allowed_chat_ids=env.chat_ids("ALLOWED_CHAT_IDS"),
            history_turns=env.integer("HISTORY_TURNS", 10, minimum=0),
            history_max_chars=env.integer("HISTORY_MAX_CHARS", 16_000, minimum=0),
            max_chats=env.integer("MAX_CHATS", 1000, minimum=1),
            health_port=env.integer("HEALTH_PORT", 8081, minimum=1, maximum=65535),
            health_stall_seconds=float(env.integer("HEALTH_STALL_SECONDS", 90, minimum=1)),
            telegram_api_base=env.url("TELEGRAM_API_BASE") or DEFAULT_TELEGRAM_API_BASE,
            poll_timeout_seconds=env.integer("POLL_TIMEOUT_SECONDS", 25, minimum=1, maximum=50),
            router_timeout_seconds=float(env.integer("ROUTER_TIMEOUT_SECONDS", 120, minimum=1)),
            max_concurrent_chats=env.integer("MAX_CONCURRENT_CHATS", 8, minimum=1),
            log_level=env.log_level("LOG_LEVEL"),
        )


class _Env:
    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def text(self, name: str) -> str:
        return self._environ.get(name, "").strip()

    def text_or_base64(self, name: str) -> str:
        """``NAME`` as plain text (trimmed), or ``NAME_B64`` decoded from base64 as UTF-8, kept exactly."""
        encoded_name = f"{name}_B64"
        plain, encoded = self.text(name), self.text(encoded_name)
        if plain and encoded:
            raise ConfigError(f"set {name} or {encoded_name}, not both")
        if not encoded:
            return plain
        try:
            return base64.b64decode(encoded, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise ConfigError(f"{encoded_name} must be base64 of UTF-8 text") from None

    def required(self, name: str) -> str:
        value = self.text(name)
        if not value:
            raise ConfigError(f"{name} is required")
        return value

    def url(self, name: str, *, required: bool = False) -> str:
        value = self.required(name) if required else self.text(name)
        if value and not value.startswith(("http://", "https://")):
            raise ConfigError(f"{name} must start with http:// or https://")
        return value.rstrip("/")

    def integer(self, name: str, default: int, *, minimum: int, maximum: int | None = None) -> int:
        raw = self.text(name)
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{name} must be an integer") from None
        if value < minimum or (maximum is not None and value > maximum):
            upper = "" if maximum is None else f" and at most {maximum}"
            raise ConfigError(f"{name} must be at least {minimum}{upper}")
        return value

    def chat_ids(self, name: str) -> frozenset[int]:
        parts = [part.strip() for part in self.text(name).split(",")]
        try:
            return frozenset(int(part) for part in parts if part)
        except ValueError:
            raise ConfigError(f"{name} must be comma-separated integers") from None

    def log_level(self, name: str) -> str:
        level = (self.text(name) or "INFO").upper()
        if not isinstance(logging.getLevelName(level), int):
            raise ConfigError(f"{name} must be one of DEBUG, INFO, WARNING, ERROR")
        return level
