"""What every admin handler needs: the process's runtime (shared clients), the web plumbing, sessions
and sign-in, and a Context for running an operation as the signed-in operator."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from functions.admin.sessions import Session, Sessions
from functions.admin.signin import SignIn
from functions.admin.web import Web
from functions.context import Context
from functions.records import Stack, Tenant
from functions.runtime import Runtime
from functions.store import Store
from shared.errors import CfaError
from shared.logging import get_logger

log = get_logger()

# An action waits this long for the tenant's lock when the event functions are busy with the tenant.
LOCK_WAIT_SECONDS = 15.0


@dataclass(frozen=True)
class Admin:
    rt: Runtime
    web: Web
    sessions: Sessions
    signin: SignIn
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    def background(self, work: Coroutine[Any, Any, Any], what: str) -> None:
        """Run ``work`` (an operation, which audits its own outcome) after the response; a failure is
        logged (``admin.background_failed``), never lost."""

        async def run() -> None:
            try:
                await work
            except CfaError as err:
                log.warning("admin.background_failed", work=what, error=err.kind, reason=err.message)
            except Exception:
                log.exception("admin.background_crashed", work=what)

        task = asyncio.create_task(run())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def tenant(self, slug: str) -> Tenant:
        """The tenant a page is about; NotFoundError with a hint otherwise. Reads only."""
        return await Store(self.rt.pb, dry_run=True, actor="", operation_id="").get_tenant(slug)

    async def stack_records(self, slug: str, stack: str) -> tuple[Tenant, Stack]:
        """The tenant and stack a page is about; NotFoundError with a hint otherwise. Reads only."""
        tenant = await self.tenant(slug)
        found = await Store(self.rt.pb, dry_run=True, actor="", operation_id="").get_stack(tenant, stack)
        return tenant, found

    def context(self, session: Session) -> Context:
        """A Context on the shared clients whose audit actor is the operator (``operator:<email>``)."""
        ctx = self.rt.context()
        ctx.settings = ctx.settings.model_copy(update={"actor": session.operator.actor})
        ctx.lock_wait = LOCK_WAIT_SECONDS
        return ctx
