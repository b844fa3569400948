"""Reads and writes of tenants, stacks, secrets and the audit trail, with dry-run built in.

In dry-run mode every write is skipped and returns what it would have written, so an operation runs
the same code path and PocketBase stays untouched. The audit trail is append-only: this module has no
way to change or delete an audit event.

Audit events are written in the background, one after the other, overlapping the next Coolify
call; they are numbered (``seq``) within their operation because two may share a millisecond. Every
operation ends with ``flush()``, which waits for all of them and raises if one could not be written.
State that recovery depends on (intent, uuids) is always written synchronously.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from datetime import UTC, datetime
from typing import Any

from functions.records import Stack, Tenant
from shared import redaction
from shared.errors import NotFoundError
from shared.logging import get_logger
from shared.naming import did_you_mean
from shared.pocketbase.client import PocketBase, RecordValidationError
from shared.pocketbase.filters import pb_datetime, pb_filter

log = get_logger()


def now_iso() -> str:
    return pb_datetime(datetime.now(UTC))


class Store:
    def __init__(
        self, pb: PocketBase, *, dry_run: bool, actor: str, operation_id: str, crash_at: str | None = None
    ) -> None:
        self.pb = pb
        self.dry_run = dry_run
        self.actor = actor
        self.operation_id = operation_id
        self.crash_at = crash_at  # tests only: die right after this audit event is stored
        self._seq = 0
        self._pending: list[asyncio.Task[Any]] = []

    # --- tenants -------------------------------------------------------------------------------------

    async def find_tenant(self, slug: str) -> Tenant | None:
        record = await self.pb.first("tenants", pb_filter("slug = {:slug}", slug=slug))
        return Tenant.model_validate(record) if record else None

    async def get_tenant(self, slug: str) -> Tenant:
        tenant = await self.find_tenant(slug)
        if tenant is None:
            hint = did_you_mean(slug, [t.slug for t in await self.list_tenants()])
            raise NotFoundError(
                f"tenant {slug!r} does not exist",
                advice=f"{hint}create it: cfa tenants create {slug} --plan starter",
            )
        return tenant

    async def list_tenants(self) -> list[Tenant]:
        return [Tenant.model_validate(r) for r in await self.pb.list_records("tenants", sort="slug")]

    async def create_tenant(self, data: dict[str, Any]) -> Tenant:
        if self.dry_run:
            return Tenant.model_validate({"id": "dry-run", **data})
        return Tenant.model_validate(await self.pb.create_record("tenants", data))

    async def update_tenant(self, tenant: Tenant, **fields: Any) -> Tenant:
        if self.dry_run:
            return tenant.model_copy(update=fields)
        return Tenant.model_validate(await self.pb.update_record("tenants", tenant.id, fields))

    # --- stacks --------------------------------------------------------------------------------------

    async def list_stacks(self, tenant: Tenant) -> list[Stack]:
        records = await self.pb.list_records(
            "stacks", filter=pb_filter("tenant = {:tenant}", tenant=tenant.id), sort="name"
        )
        return [Stack.model_validate(r) for r in records]

    async def list_all_stacks(self) -> list[Stack]:
        """Every stack of every tenant (one paged read)."""
        return [Stack.model_validate(r) for r in await self.pb.list_records("stacks", sort="name")]

    async def find_stack(self, tenant: Tenant, name: str) -> Stack | None:
        record = await self.pb.first(
            "stacks", pb_filter("tenant = {:tenant} && name = {:name}", tenant=tenant.id, name=name)
        )
        return Stack.model_validate(record) if record else None

    async def get_stack(self, tenant: Tenant, name: str) -> Stack:
        stack = await self.find_stack(tenant, name)
        if stack is None:
            hint = did_you_mean(name, [s.name for s in await self.list_stacks(tenant)])
            raise NotFoundError(
                f"tenant {tenant.slug} has no stack {name!r}",
                advice=f"{hint}see its stacks: cfa status {tenant.slug}",
            )
        return stack

    async def create_stack(self, data: dict[str, Any]) -> Stack:
        if self.dry_run:
            return Stack.model_validate({"id": "dry-run", **data})
        return Stack.model_validate(await self.pb.create_record("stacks", data))

    async def update_stack(self, stack: Stack, **fields: Any) -> Stack:
        if self.dry_run:
            return stack.model_copy(update=fields)
        return Stack.model_validate(await self.pb.update_record("stacks", stack.id, fields))

    # --- secrets -------------------------------------------------------------------------------------

    async def get_secrets(self, stack: Stack) -> dict[str, str]:
        """The stack's stored secret env values (registered for redaction as they are read)."""
        if stack.id == "dry-run":
            return {}
        record = await self.pb.first("stack_secrets", pb_filter("stack = {:stack}", stack=stack.id))
        values = {str(k): str(v) for k, v in ((record or {}).get("values") or {}).items()}
        redaction.register_all(values.values())
        return values

    async def put_secrets(self, stack: Stack, values: dict[str, str], *, exists: bool) -> None:
        """Store the stack's secrets; ``exists`` says whether a record was read before (saves a lookup)."""
        if self.dry_run:
            return
        if not exists:
            try:
                await self.pb.create_record("stack_secrets", {"stack": stack.id, "values": values})
                return
            except RecordValidationError as err:
                if not err.not_unique:
                    raise
        record = await self.pb.first("stack_secrets", pb_filter("stack = {:stack}", stack=stack.id))
        assert record is not None
        await self.pb.update_record("stack_secrets", str(record["id"]), {"values": values})

    async def delete_secrets(self, stack: Stack) -> None:
        if self.dry_run:
            return
        record = await self.pb.first("stack_secrets", pb_filter("stack = {:stack}", stack=stack.id))
        if record is not None:
            await self.pb.delete_record("stack_secrets", str(record["id"]))

    # --- audit ---------------------------------------------------------------------------------------

    async def audit(
        self,
        action: str,
        *,
        outcome: str = "ok",
        tenant: str = "",
        stack: str = "",
        details: dict[str, Any] | None = None,
    ) -> None:
        """Append one audit event (never in dry-run). ``details`` must not hold secrets; it is scrubbed."""
        self._seq += 1
        event = {
            "seq": self._seq,
            "actor": self.actor,
            "action": action,
            "tenant": tenant[:30],
            "stack": stack[:30],
            "outcome": outcome,
            "operation_id": self.operation_id,
            "details": redaction.scrub(details or {}),
        }
        log.info("audit.recorded", action=action, outcome=outcome, dry_run=self.dry_run)
        if not self.dry_run:
            previous = self._pending[-1] if self._pending else None
            self._pending.append(asyncio.create_task(self._append(previous, event)))

    async def _append(self, previous: asyncio.Task[Any] | None, event: dict[str, Any]) -> None:
        # One after the other, so an operation's events keep their order in ``time`` too.
        if previous is not None:
            with contextlib.suppress(Exception):
                await previous
        await self.pb.create_record("audit_events", event)
        if self.crash_at and event["action"] == self.crash_at:
            log.warning("test.crashing_now", after=self.crash_at)
            os.kill(os.getpid(), signal.SIGKILL)

    async def flush(self) -> None:
        """Wait until every audit event of this operation is stored; re-raise the first failure."""
        pending, self._pending = self._pending, []
        results = await asyncio.gather(*pending, return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            log.error("audit.write_failed", count=len(failures), error=type(failures[0]).__name__)
            raise failures[0]

    async def list_audit(self, tenant: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        query = pb_filter("tenant = {:tenant}", tenant=tenant) if tenant else None
        return await self.pb.list_records("audit_events", filter=query, sort="-time,-seq", limit=limit)
