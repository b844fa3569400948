"""Wiring and process lifecycle: config -> clients -> poller + health server, until SIGTERM.

``build`` assembles a bot from a ``Config`` and injected ``httpx.AsyncClient``s, clock and sleep, which
is how the tests run the real code against fakes. ``main`` is the container entry point: exit 0 after
SIGTERM/SIGINT, 2 on bad configuration, 1 if the health port cannot be bound.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from bot import __version__
from bot.config import Config, ConfigError
from bot.handler import MessageHandler
from bot.health import Clock, HealthServer, Heartbeat
from bot.history import ChatHistories
from bot.logs import configure_logging, log_event
from bot.poller import Poller
from bot.router import RouterClient
from bot.telegram import Sleep, TelegramClient

logger = logging.getLogger("bot")

# Inside the container only: compose publishes no ports, and the healthcheck dials 127.0.0.1.
HEALTH_HOST = "0.0.0.0"  # noqa: S104


@dataclass(frozen=True)
class Bot:
    """A wired bot: run ``poller.run()``; serve ``health`` alongside it."""

    poller: Poller
    heartbeat: Heartbeat
    health: HealthServer
    histories: ChatHistories


def build(
    config: Config,
    *,
    telegram_http: httpx.AsyncClient,
    router_http: httpx.AsyncClient,
    clock: Clock = time.monotonic,
    sleep: Sleep = asyncio.sleep,
) -> Bot:
    """Assemble the bot from ``config`` and injected I/O. Creates no sockets until run."""
    heartbeat = Heartbeat(clock)
    telegram = TelegramClient(
        telegram_http, token=config.telegram_token, api_base=config.telegram_api_base, sleep=sleep
    )
    router = RouterClient(
        router_http,
        base_url=config.router_base_url,
        api_key=config.router_api_key,
        model=config.router_model,
        timeout_seconds=config.router_timeout_seconds,
    )
    histories = ChatHistories(
        max_turns=config.history_turns, max_chars=config.history_max_chars, max_chats=config.max_chats
    )
    handler = MessageHandler(
        telegram=telegram,
        router=router,
        histories=histories,
        allowed_chat_ids=config.allowed_chat_ids,
        system_prompt=config.system_prompt,
    )
    poller = Poller(
        telegram=telegram,
        handler=handler,
        heartbeat=heartbeat,
        sleep=sleep,
        poll_timeout=config.poll_timeout_seconds,
        max_concurrent_chats=config.max_concurrent_chats,
    )
    return Bot(
        poller=poller,
        heartbeat=heartbeat,
        health=HealthServer(heartbeat, config.health_stall_seconds),
        histories=histories,
    )


async def serve(config: Config) -> int:
    """Run until SIGTERM or SIGINT; return the process exit code."""
    limits = httpx.Limits(max_connections=config.max_concurrent_chats + 4)
    async with (
        httpx.AsyncClient(limits=limits, follow_redirects=False) as telegram_http,
        httpx.AsyncClient(limits=limits, follow_redirects=False) as router_http,
    ):
        bot = build(config, telegram_http=telegram_http, router_http=router_http)
        try:
            port = await bot.health.start(HEALTH_HOST, config.health_port)
        except OSError as exc:
            log_event(
                logger, logging.ERROR, "bot.health_bind_failed", port=config.health_port, reason=str(exc)
            )
            return 1
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, bot.poller.stop)
        log_event(
            logger,
            logging.INFO,
            "bot.started",
            version=__version__,
            model=config.router_model,
            allowed_chats=len(config.allowed_chat_ids),
            health_port=port,
        )
        try:
            await bot.poller.run()
        finally:
            await bot.health.close()
    log_event(logger, logging.INFO, "bot.stopped")
    return 0


def main(environ: Mapping[str, str] | None = None) -> int:
    """Entry point for ``python -m bot``."""
    env = os.environ if environ is None else environ
    try:
        config = Config.from_env(env)
    except ConfigError as exc:
        configure_logging("INFO", ())
        log_event(logger, logging.ERROR, "bot.config_invalid", reason=str(exc))
        return 2
    configure_logging(config.log_level, config.secrets)
    return asyncio.run(serve(config))
