"""The status poller: stacks in a transitional status (provisioning, resuming, suspending, deleting,
rotating) are settled from what Coolify reports, since compose services send no deployment webhooks.

One ``GET /services`` per round serves every stack that is due, whatever their number. A stack is due
every poll interval for its first minute in transition, then every 3 intervals, then every 6 (backoff).
Settling happens under the stack's tenant lock, taken only if free (the operation holding it settles
its own work). A transition past its deadline is settled as failed or degraded by ``settle`` and
alerted once, with the runbook for failed provisioning.
"""

from __future__ import annotations

import time

from functions.alerts import Alert
from functions.operations.common import locked
from functions.operations.settle import TRANSITIONAL, TRANSITIONS, elapsed_since, settle
from functions.records import Stack, Tenant
from functions.runtime import Runtime
from shared.coolify.models import ServiceStatus
from shared.errors import BusyError, CfaError
from shared.logging import get_logger

log = get_logger()


class StatusPoller:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._next: dict[str, float] = {}

    def _due(self, stack: Stack, now: float) -> bool:
        return now >= self._next.get(stack.id, 0.0)

    def _later(self, stack: Stack, now: float, elapsed: float) -> None:
        interval = self.rt.settings.status_poll_seconds
        factor = 1 if elapsed < 60 else 3 if elapsed < 300 else 6
        self._next[stack.id] = now + interval * factor

    async def poll_once(self) -> int:
        """One round; returns how many stacks were settled into another status."""
        ctx = self.rt.context()
        clause = " || ".join(f"status = '{status}'" for status in sorted(TRANSITIONAL))
        records = await ctx.pb.list_records("stacks", filter=clause)
        stacks = [Stack.model_validate(r) for r in records if r.get("coolify_service_uuid")]
        now, wall = time.monotonic(), ctx.wall()
        due = [s for s in stacks if self._due(s, now)]
        self._next = {k: v for k, v in self._next.items() if k in {s.id for s in stacks}}
        if not due:
            return 0
        live = {s.uuid: s.parsed_status for s in await ctx.coolify.list_services()}
        by_tenant: dict[str, list[Stack]] = {}
        for stack in due:
            by_tenant.setdefault(stack.tenant, []).append(stack)
        moved = 0
        for tenant_id, own in by_tenant.items():
            moved += await self._settle_tenant(tenant_id, own, live)
        for stack in due:
            self._later(stack, now, elapsed_since(stack, wall))
        return moved

    async def _settle_tenant(
        self, tenant_id: str, stacks: list[Stack], live: dict[str, ServiceStatus]
    ) -> int:
        ctx = self.rt.context()
        moved = 0
        try:
            tenant = Tenant.model_validate(await ctx.pb.get_record("tenants", tenant_id))
            async with locked(ctx, tenant.slug, f"status poll {tenant.slug}"):
                for stack in stacks:
                    current = Stack.model_validate(await ctx.pb.get_record("stacks", stack.id))
                    if current.status not in TRANSITIONAL or not current.coolify_service_uuid:
                        continue
                    action = TRANSITIONS[current.status]
                    after = await settle(ctx, tenant, current, live.get(current.coolify_service_uuid))
                    moved += after.status != current.status
                    if after.last_error and after.last_error != current.last_error:
                        self._alert(tenant, after, action)  # failed, degraded, or a delete past due
        except BusyError:
            pass  # the operation that holds the lock settles its own work
        except CfaError as err:
            log.warning("poller.failed", tenant_id=tenant_id, error=err.kind, reason=err.message)
        return moved

    def _alert(self, tenant: Tenant, stack: Stack, action: str) -> None:
        self.rt.alerter.send(
            Alert(
                severity="critical",
                title=f"{action} of {tenant.slug}/{stack.name}: {stack.status}",
                body=f"{stack.last_error}\nCoolify reports {stack.coolify_status or 'nothing'}.",
                runbook="provisioning-failed",
            )
        )
