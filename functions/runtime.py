"""What every handler of ``cfa serve`` shares: settings, the long-lived clients, the catalog, alerts,
metrics, and a way to hand more work to the dispatcher. Each handler run gets a fresh
:class:`~functions.context.Context` (its own operation id) on these shared clients, so the Coolify
client's rate limiter is one for the whole process."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from functions.alerts import Alerter
from functions.context import Context
from functions.events import AnyEvent
from functions.metrics import FunctionsMetrics
from shared.catalog import Catalog
from shared.coolify.client import CoolifyClient
from shared.pocketbase.client import PocketBase
from shared.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    pb: PocketBase
    coolify: CoolifyClient
    catalog: Catalog
    alerter: Alerter
    metrics: FunctionsMetrics = field(default_factory=FunctionsMetrics)
    submit: Callable[[AnyEvent], None] = lambda _event: None
    local_locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    def context(self) -> Context:
        return Context(
            settings=self.settings,
            pb=self.pb,
            coolify=self.coolify,
            catalog=self.catalog,
            dry_run=False,
            local_locks=self.local_locks,
        )
