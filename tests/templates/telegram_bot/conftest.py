"""Runs the real bot package (``templates/telegram-bot/app/bot``) against the fakes in ``fakes.py``.

The app directory has a hyphen in its path, so it is put on ``sys.path`` rather than imported as a
package. ``Harness`` builds bots from a config plus httpx clients whose transports are the fakes, a
fake clock and a sleep that records instead of waiting.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import pytest

APP_DIR = Path(__file__).resolve().parents[3] / "templates" / "telegram-bot" / "app"
if str(APP_DIR) not in sys.path:
    sys.path.insert(0, str(APP_DIR))

from bot.config import Config  # noqa: E402
from bot.main import Bot, build  # noqa: E402

from tests.templates.telegram_bot.fakes import FakeRouter, FakeTelegram, Interrupting  # noqa: E402

TOKEN = "123456789:AAExampleTokenThatMustNeverBeLogged"
ROUTER_KEY = "sk-router-key-that-must-never-be-logged"
SYSTEM_PROMPT = "You are a concise assistant."


def base_config(**overrides: Any) -> Config:
    config = Config(
        telegram_token=TOKEN,
        router_base_url="http://router.test/v1",
        router_api_key=ROUTER_KEY,
        router_model="test-model",
        system_prompt=SYSTEM_PROMPT,
        telegram_api_base="http://telegram.test",
    )
    return replace(config, **overrides)


@dataclass
class FakeClock:
    """Monotonic seconds that only move when a test says so."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class RecordingSleep:
    """Records every requested wait and returns at once; ``on_sleep`` lets a test react (e.g. stop)."""

    calls: list[float] = field(default_factory=list)
    on_sleep: list[Callable[[], None]] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        for hook in self.on_sleep:
            hook()
        await asyncio.sleep(0)


@dataclass
class Harness:
    """Fakes plus a factory for bots wired to them. Transports can inject network errors."""

    telegram: FakeTelegram
    router: FakeRouter
    clock: FakeClock
    sleep: RecordingSleep
    telegram_transport: Interrupting
    router_transport: Interrupting
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    def bot(self, **overrides: Any) -> Bot:
        telegram_http = httpx.AsyncClient(transport=self.telegram_transport)
        router_http = httpx.AsyncClient(transport=self.router_transport)
        self.clients += [telegram_http, router_http]
        return build(
            base_config(**overrides),
            telegram_http=telegram_http,
            router_http=router_http,
            clock=self.clock,
            sleep=self.sleep,
        )

    async def exchange(self, bot: Bot) -> int:
        """One poll round trip, then wait until every message it fetched has been answered."""
        count = await bot.poller.poll_once()
        await bot.poller.drain()
        return count


@pytest.fixture
async def harness(anyio_backend: str) -> AsyncIterator[Harness]:
    telegram = FakeTelegram(token=TOKEN)
    router = FakeRouter(api_key=ROUTER_KEY)
    h = Harness(
        telegram=telegram,
        router=router,
        clock=FakeClock(),
        sleep=RecordingSleep(),
        telegram_transport=Interrupting(httpx.ASGITransport(app=telegram.app)),
        router_transport=Interrupting(httpx.ASGITransport(app=router.app)),
    )
    yield h
    for client in h.clients:
        await client.aclose()


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """The bot configures the root logger; give it back untouched to the next test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    noisy = {name: logging.getLogger(name).level for name in ("httpx", "httpcore")}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, saved in noisy.items():
        logging.getLogger(name).setLevel(saved)
