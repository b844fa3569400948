"""Stopping (SIGTERM) lets in-flight replies finish and confirms the offset; bad config exits 2."""

from __future__ import annotations

import asyncio
import json

import anyio
import anyio.lowlevel
import pytest
from bot.main import main

from tests.templates.telegram_bot.conftest import Harness


@pytest.mark.anyio
async def test_stop_finishes_in_flight_reply_and_confirms_offset(harness: Harness) -> None:
    """A reply still waiting on the router when stop() arrives is delivered; then the offset is confirmed."""
    harness.router.gate = asyncio.Event()
    bot = harness.bot()
    last = harness.telegram.push_text(42, "slow question")

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(bot.poller.run)
        with anyio.fail_after(5):
            await harness.router.received.wait()
        bot.poller.stop()
        await anyio.lowlevel.checkpoint()
        harness.router.gate.set()

    assert harness.telegram.texts_to(42) == ["echo: slow question"]
    assert harness.telegram.polls[-1] == {
        "timeout": 0,
        "limit": 1,
        "allowed_updates": ["message"],
        "offset": last + 1,
    }


@pytest.mark.anyio
async def test_replies_past_the_grace_period_are_abandoned(harness: Harness) -> None:
    """A reply that outlives the shutdown grace period is cancelled so the process can exit."""
    harness.router.gate = asyncio.Event()
    bot = harness.bot()
    harness.telegram.push_text(42, "never answered")

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(bot.poller.run, 0.0)
        with anyio.fail_after(5):
            await harness.router.received.wait()
        bot.poller.stop()

    assert harness.telegram.sent == []


def test_main_exits_2_on_bad_config(capsys: pytest.CaptureFixture[str]) -> None:
    """Missing variables exit with status 2 and one JSON log line naming the variable, no traceback."""
    code = main({"ROUTER_BASE_URL": "https://router.example.com/v1", "ROUTER_API_KEY": "k" * 20})

    (line,) = capsys.readouterr().out.splitlines()
    assert code == 2
    assert json.loads(line)["event"] == "bot.config_invalid"
    assert json.loads(line)["reason"] == "TELEGRAM_BOT_TOKEN is required"
