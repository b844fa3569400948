"""What every operation needs, built once per command or event: settings, clients, catalog, dry-run."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property

import httpx
from pydantic import SecretStr

from functions.progress import LogProgress, Progress
from functions.store import Store
from shared import redaction
from shared.catalog import Catalog, load_catalog
from shared.compose_loader import ComposeLoader, find_compose
from shared.coolify.client import CoolifyClient
from shared.coolify.dryrun import DryRunTransport
from shared.errors import ConfigurationError
from shared.logging import get_logger
from shared.pocketbase.client import PocketBase
from shared.pocketbase.connect import pocketbase_from_settings
from shared.ratelimit import SlidingWindowLimiter
from shared.retry import RetryPolicy
from shared.settings import Settings

log = get_logger()


@dataclass
class Context:
    """Dependencies of one operation. ``dry_run`` means: no Coolify write is sent, nothing is stored."""

    settings: Settings
    pb: PocketBase
    coolify: CoolifyClient
    catalog: Catalog
    dry_run: bool
    dry_run_reason: str = ""
    recorder: DryRunTransport | None = None
    operation_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    clock: Callable[[], float] = time.monotonic  # for waits
    wall: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))  # for stored times
    lock_wait: float = 0.0  # seconds to wait for a tenant lock another operation holds
    progress: Progress = field(default_factory=LogProgress)
    # One asyncio lock per tenant, shared by every Context of a process (cfa serve): operations of this
    # process queue here instead of polling each other's PocketBase lock.
    local_locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    @property
    def offline(self) -> bool:
        """A dry run with no Coolify at all: stored uuids are trusted, nothing can be looked up."""
        return self.recorder is not None and self.recorder.upstream is None

    @cached_property
    def store(self) -> Store:
        return Store(
            self.pb,
            dry_run=self.dry_run,
            actor=self.settings.actor,
            operation_id=self.operation_id,
            crash_at=self.settings.test_crash_at,
        )

    @cached_property
    def compose_loader(self) -> ComposeLoader | None:
        """Compose v2, whose loader checks every render before Coolify sees it (None: not available)."""
        loader = find_compose(self.settings.compose_binary)
        if loader is None:
            log.warning(
                "render.compose_check_unavailable",
                advice="install Docker Compose v2 or set CFA_COMPOSE_BINARY (scripts/compose-v2 fetches one)",
            )
        return loader


def coolify_from_settings(
    settings: Settings,
    *,
    dry_run: bool,
    transport: httpx.AsyncBaseTransport | None = None,
    limiter: SlidingWindowLimiter | None = None,
) -> tuple[CoolifyClient, DryRunTransport | None, str]:
    """The Coolify client, wrapped in a recording dry-run transport when nothing may be sent.

    Returns (client, recorder or None, the reason for the dry run or "").
    """
    api_base = settings.coolify_api_base
    if api_base is None:
        recorder = DryRunTransport(upstream=None)
        reason = "CFA_COOLIFY_URL is not set"
        client = CoolifyClient("http://coolify.invalid/api/v1", SecretStr("dry-run"), transport=recorder)
        return client, recorder, reason
    if settings.coolify_token is None:
        raise ConfigurationError(
            "CFA_COOLIFY_URL is set but CFA_COOLIFY_TOKEN is not",
            advice="create an API token in Coolify (Keys & Tokens) with read, write and deploy",
        )
    redaction.register(settings.coolify_token)
    forwarding = DryRunTransport(upstream=transport or httpx.AsyncHTTPTransport()) if dry_run else None
    client = CoolifyClient(
        api_base,
        settings.coolify_token,
        transport=forwarding or transport,
        timeout=settings.coolify_timeout_seconds,
        limiter=limiter or SlidingWindowLimiter(settings.coolify_rate_limit_per_minute),
        retry=RetryPolicy(max_attempts=settings.coolify_max_attempts),
    )
    return client, forwarding, "--dry-run" if dry_run else ""


@contextlib.asynccontextmanager
async def open_context(
    settings: Settings,
    *,
    dry_run: bool = False,
    changes_coolify: bool = False,
    pb: PocketBase | None = None,
    coolify_transport: httpx.AsyncBaseTransport | None = None,
    limiter: SlidingWindowLimiter | None = None,
) -> AsyncIterator[Context]:
    """Build a Context from settings; ``pb``/``coolify_transport`` let tests and benchmarks inject.

    ``changes_coolify``: the operation writes to Coolify, so with no Coolify configured the whole
    operation becomes a dry run (PocketBase untouched too: it would otherwise record changes that
    never happened). Operations that only read Coolify keep writing PocketBase normally.
    """
    coolify, recorder, reason = coolify_from_settings(
        settings, dry_run=dry_run, transport=coolify_transport, limiter=limiter
    )
    own_pb = pb is None
    pocketbase = pb or pocketbase_from_settings(settings)
    context: Context | None = None
    try:
        context = Context(
            settings=settings,
            pb=pocketbase,
            coolify=coolify,
            catalog=load_catalog(settings.templates_dir),
            dry_run=dry_run or (changes_coolify and recorder is not None),
            dry_run_reason=reason,
            recorder=recorder,
        )
        yield context
    finally:
        if context is not None:
            with contextlib.suppress(Exception):
                await context.store.flush()  # a safety net: operations flush their own audit events
        await coolify.aclose()
        if own_pb:
            await pocketbase.aclose()
