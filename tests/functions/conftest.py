"""Operations run against a real PocketBase and the stateful fake Coolify, on a manual clock."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from functions.context import Context
from functions.operations.tenants import create_tenant
from shared.catalog import load_catalog
from shared.coolify.client import CoolifyClient
from shared.pocketbase.client import PocketBase
from shared.ratelimit import SlidingWindowLimiter
from shared.retry import RetryPolicy
from shared.settings import REPO_ROOT, Settings
from tests.fakes.clock import FakeClock
from tests.fakes.coolify import BASE_URL, DEFAULT_TOKEN, FakeCoolify

TOKEN = "123456789:AAtesttokentesttokentesttokentest12"
ROUTER_KEY = "sk-router-key-for-tests-0001"
BOT_PARAMS = {"telegram_token": TOKEN, "router_api_key": ROUTER_KEY}


class ManualSleep:
    """``sleep`` that advances the shared fake clock instead of waiting."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.slept: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.clock.advance(seconds)


def make_settings(templates_dir: Path | None = None, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "coolify_url": "http://coolify.test",
        "coolify_token": SecretStr(DEFAULT_TOKEN),
        "router_url": "https://router.example.com/v1",
        "base_domain": "agents.example.com",
        "poll_interval_seconds": 1.0,
        "provision_wait_seconds": 60.0,
        "delete_wait_seconds": 60.0,
        "actor": "test:operator",
        **overrides,
    }
    if templates_dir is not None:
        values["templates_dir"] = templates_dir
    return Settings(**values)


ContextFactory = Callable[..., Context]


@pytest.fixture
def templates_dir(tmp_path: Path) -> Path:
    """A copy of the shipped templates that a test may add to."""
    target = tmp_path / "templates"
    shutil.copytree(REPO_ROOT / "templates", target, ignore=shutil.ignore_patterns("app"))
    return target


@pytest.fixture
async def make_ctx(
    pb: PocketBase,
    coolify_fake: FakeCoolify,
    coolify_clock: FakeClock,
    templates_dir: Path,
) -> AsyncIterator[ContextFactory]:
    """Build Contexts wired to the fake Coolify and the test's PocketBase (closed at teardown)."""
    coolify_fake.state.transition_delay = 3.0
    sleep = ManualSleep(coolify_clock)
    clients: list[CoolifyClient] = []

    def factory(
        *,
        dry_run: bool = False,
        pocketbase: PocketBase | None = None,
        wall: Callable[[], datetime] | None = None,
        coolify_transport: httpx.AsyncBaseTransport | None = None,
        **overrides: Any,
    ) -> Context:
        """A Context; ``overrides`` are settings, ``wall`` replaces the wall clock (stored times),
        ``coolify_transport`` stands between the client and the fake (e.g. to crash at a call)."""
        settings = make_settings(templates_dir, **overrides)
        client = CoolifyClient(
            BASE_URL,
            SecretStr(DEFAULT_TOKEN),
            transport=coolify_transport or coolify_fake.transport(),
            limiter=SlidingWindowLimiter(100_000),
            retry=RetryPolicy(max_attempts=4),
            sleep=sleep,
        )
        clients.append(client)
        context = Context(
            settings=settings,
            pb=pocketbase or pb,
            coolify=client,
            catalog=load_catalog(settings.templates_dir),
            dry_run=dry_run,
            sleep=sleep,
            clock=coolify_clock,
        )
        if wall is not None:
            context.wall = wall
        return context

    yield factory
    for client in clients:
        await client.aclose()


@pytest.fixture
async def acme(make_ctx: ContextFactory) -> str:
    """A starter tenant ``acme``."""
    await create_tenant(make_ctx(), "acme", plan="starter", name="Acme GmbH")
    return "acme"


async def records(pb: PocketBase, collection: str) -> list[dict[str, Any]]:
    return await pb.list_records(collection)
