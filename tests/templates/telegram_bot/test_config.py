"""Configuration comes from the documented variables, with defaults, and errors never echo secrets."""

from __future__ import annotations

import base64

import pytest
from bot.config import Config, ConfigError

from tests.templates.telegram_bot.conftest import ROUTER_KEY, TOKEN

REQUIRED = {
    "TELEGRAM_BOT_TOKEN": TOKEN,
    "ROUTER_BASE_URL": "https://router.example.com/v1/",
    "ROUTER_API_KEY": ROUTER_KEY,
}


def test_defaults() -> None:
    """Only the three required variables are needed; everything else has the documented default."""
    config = Config.from_env(REQUIRED)

    assert config.router_base_url == "https://router.example.com/v1"
    assert config.router_model == "gpt-4o-mini"
    assert config.system_prompt == ""
    assert config.allowed_chat_ids == frozenset()
    assert (config.history_turns, config.history_max_chars, config.max_chats) == (10, 16_000, 1000)
    assert (config.health_port, config.health_stall_seconds) == (8081, 90.0)
    assert config.telegram_api_base == "https://api.telegram.org"
    assert (config.poll_timeout_seconds, config.router_timeout_seconds) == (25, 120.0)
    assert config.max_concurrent_chats == 8
    assert config.log_level == "INFO"


def test_every_variable_is_read() -> None:
    """Each optional variable overrides its default."""
    config = Config.from_env(
        {
            **REQUIRED,
            "ROUTER_MODEL": "claude-haiku",
            "SYSTEM_PROMPT": "Be brief.",
            "ALLOWED_CHAT_IDS": " 12, -1001234 ,,",
            "HISTORY_TURNS": "4",
            "HISTORY_MAX_CHARS": "2000",
            "MAX_CHATS": "50",
            "HEALTH_PORT": "9000",
            "HEALTH_STALL_SECONDS": "120",
            "TELEGRAM_API_BASE": "http://127.0.0.1:9999/",
            "POLL_TIMEOUT_SECONDS": "30",
            "ROUTER_TIMEOUT_SECONDS": "300",
            "MAX_CONCURRENT_CHATS": "2",
            "LOG_LEVEL": "debug",
        }
    )

    assert config.router_model == "claude-haiku"
    assert config.system_prompt == "Be brief."
    assert config.allowed_chat_ids == frozenset({12, -1001234})
    assert (config.history_turns, config.history_max_chars, config.max_chats) == (4, 2000, 50)
    assert (config.health_port, config.health_stall_seconds) == (9000, 120.0)
    assert config.telegram_api_base == "http://127.0.0.1:9999"
    assert (config.poll_timeout_seconds, config.router_timeout_seconds) == (30, 300.0)
    assert config.max_concurrent_chats == 2
    assert config.log_level == "DEBUG"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"TELEGRAM_BOT_TOKEN": ""}, "TELEGRAM_BOT_TOKEN is required"),
        ({"ROUTER_API_KEY": "  "}, "ROUTER_API_KEY is required"),
        ({"ROUTER_BASE_URL": "router.example.com/v1"}, "ROUTER_BASE_URL must start with http"),
        ({"ALLOWED_CHAT_IDS": "12,abc"}, "ALLOWED_CHAT_IDS must be comma-separated integers"),
        ({"HISTORY_TURNS": "ten"}, "HISTORY_TURNS must be an integer"),
        ({"MAX_CHATS": "0"}, "MAX_CHATS must be at least 1"),
        ({"HEALTH_PORT": "70000"}, "HEALTH_PORT must be at least 1 and at most 65535"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL must be one of"),
    ],
)
def test_bad_values_name_the_variable(overrides: dict[str, str], message: str) -> None:
    """A missing or malformed variable raises ConfigError naming it."""
    with pytest.raises(ConfigError, match=message):
        Config.from_env({**REQUIRED, **overrides})


def test_secrets_stay_out_of_repr_and_errors() -> None:
    """repr(config) and config errors never contain the token or the key."""
    config = Config.from_env(REQUIRED)
    with pytest.raises(ConfigError) as error:
        Config.from_env({**REQUIRED, "HISTORY_TURNS": TOKEN})

    assert TOKEN not in repr(config)
    assert ROUTER_KEY not in repr(config)
    assert TOKEN not in str(error.value)


def test_a_base64_system_prompt_is_decoded_exactly() -> None:
    """SYSTEM_PROMPT_B64 (what the template sets) gives the prompt byte for byte, blanks and $ included."""
    prompt = "  $5 a month, {{team.X}}, $SERVICE_FQDN_BOT\n\tü ✓  "
    encoded = base64.b64encode(prompt.encode("utf-8")).decode("ascii")
    assert Config.from_env({**REQUIRED, "SYSTEM_PROMPT_B64": encoded}).system_prompt == prompt


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"SYSTEM_PROMPT": "plain", "SYSTEM_PROMPT_B64": "cGxhaW4="}, "not both"),
        ({"SYSTEM_PROMPT_B64": "not base64!"}, "SYSTEM_PROMPT_B64 must be base64 of UTF-8 text"),
        ({"SYSTEM_PROMPT_B64": base64.b64encode(b"\xff\xfe").decode()}, "must be base64 of UTF-8 text"),
    ],
)
def test_a_bad_base64_system_prompt_is_refused_without_echoing_it(
    overrides: dict[str, str], message: str
) -> None:
    """Both forms at once, or a value that is not base64 of UTF-8, is a ConfigError naming the variable."""
    with pytest.raises(ConfigError, match=message) as caught:
        Config.from_env({**REQUIRED, **overrides})
    assert overrides["SYSTEM_PROMPT_B64"] not in str(caught.value)
