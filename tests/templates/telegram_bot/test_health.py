"""``/healthz`` is 200 while polling makes progress and 503 once it has stalled (injected clock)."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import httpx
import pytest
from bot.health import HealthServer, Heartbeat, health_report
from bot.healthcheck import check
from bot.main import Bot
from bot.telegram import TelegramUnavailable

from tests.templates.telegram_bot.conftest import APP_DIR, FakeClock, Harness

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def serving(bot: Bot) -> AsyncIterator[httpx.AsyncClient]:
    """The bot's real health server on a free loopback port, and a client pointed at it."""
    port = await bot.health.start("127.0.0.1", 0)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", trust_env=False) as client:
            yield client
    finally:
        await bot.health.close()


def test_report_turns_503_at_the_stall_threshold() -> None:
    """Younger than the threshold is ok; at or past it is stalled; a beat makes it ok again."""
    clock = FakeClock()
    heartbeat = Heartbeat(clock)

    clock.advance(89.9)
    assert health_report(heartbeat, 90).status_code == 200
    clock.advance(0.1)
    assert health_report(heartbeat, 90).body == {"status": "stalled", "last_poll_age_seconds": 90.0}
    heartbeat.beat()
    assert health_report(heartbeat, 90).body == {"status": "ok", "last_poll_age_seconds": 0.0}


async def test_healthz_follows_polling_progress(harness: Harness) -> None:
    """200 after a poll, 503 when no poll has succeeded for HEALTH_STALL_SECONDS, 200 after the next."""
    bot = harness.bot(health_stall_seconds=90.0)
    async with serving(bot) as client:
        await harness.exchange(bot)
        harness.clock.advance(30)
        fresh = await client.get("/healthz")

        harness.clock.advance(61)
        stalled = await client.get("/healthz")

        await harness.exchange(bot)
        recovered = await client.get("/healthz")

    assert fresh.status_code == 200
    assert fresh.json() == {"status": "ok", "last_poll_age_seconds": 30.0}
    assert stalled.status_code == 503
    assert stalled.json() == {"status": "stalled", "last_poll_age_seconds": 91.0}
    assert recovered.status_code == 200


async def test_failing_polls_do_not_count_as_progress(harness: Harness) -> None:
    """A getUpdates that errors leaves the heartbeat alone, so health degrades while Telegram fails."""
    bot = harness.bot(health_stall_seconds=90.0)
    await harness.exchange(bot)
    harness.clock.advance(100)
    harness.telegram.fail("getUpdates", 502, "Bad Gateway")

    with pytest.raises(TelegramUnavailable):
        await bot.poller.poll_once()

    async with serving(bot) as client:
        assert (await client.get("/healthz")).status_code == 503


async def test_start_up_has_a_grace_period(harness: Harness) -> None:
    """Before the first poll the bot counts as healthy until the stall threshold has passed."""
    bot = harness.bot(health_stall_seconds=90.0)
    async with serving(bot) as client:
        early = await client.get("/healthz")
        harness.clock.advance(90)
        late = await client.get("/healthz")

    assert (early.status_code, late.status_code) == (200, 503)


async def test_other_paths_are_not_found(harness: Harness) -> None:
    """Only /healthz is served."""
    bot = harness.bot()
    async with serving(bot) as client:
        assert (await client.get("/")).status_code == 404
        assert (await client.post("/healthz")).status_code == 404


async def test_healthcheck_helper_reports_status() -> None:
    """bot.healthcheck.check is True for 200, False for 503 and for a closed port."""
    clock = FakeClock()
    server = HealthServer(Heartbeat(clock), stall_seconds=90)
    port = await server.start("127.0.0.1", 0)
    try:
        healthy = await anyio.to_thread.run_sync(check, port)
        clock.advance(120)
        stalled = await anyio.to_thread.run_sync(check, port)
    finally:
        await server.close()
    closed = await anyio.to_thread.run_sync(check, port)

    assert (healthy, stalled, closed) == (True, False, False)


async def test_healthcheck_module_exit_codes() -> None:
    """`python -m bot.healthcheck` exits 0 when healthy and 1 when stalled, reading HEALTH_PORT."""
    clock = FakeClock()
    server = HealthServer(Heartbeat(clock), stall_seconds=90)
    port = await server.start("127.0.0.1", 0)
    env = {**os.environ, "HEALTH_PORT": str(port), "PYTHONPATH": str(APP_DIR)}
    command = [sys.executable, "-m", "bot.healthcheck"]
    try:
        healthy = await anyio.run_process(command, env=env, check=False)
        clock.advance(120)
        stalled = await anyio.run_process(command, env=env, check=False)
    finally:
        await server.close()

    assert (healthy.returncode, stalled.returncode) == (0, 1)
