"""The stack directory backed by PocketBase's ``tenants`` and ``stacks`` records.

``refresh`` reads both collections (a few hundred records) and swaps the in-memory maps, so lookups
on the event path never wait on the network. A tenant that is suspended or deleted suspends all of
its stacks for alerting purposes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from monitor.directory import BudgetLookup, StackRecord, StaticDirectory
from shared.logging import get_logger

if TYPE_CHECKING:
    from shared.pocketbase.client import PocketBase

log = get_logger()


class PocketBaseDirectory(StaticDirectory):
    def __init__(self, pb: PocketBase, budgets: BudgetLookup | None = None) -> None:
        super().__init__((), budgets)
        self._pb = pb

    async def refresh(self) -> None:
        tenants = {t["id"]: t for t in await self._pb.list_records("tenants")}
        records = []
        for stack in await self._pb.list_records("stacks"):
            tenant = tenants.get(stack.get("tenant"))
            if tenant is None or not tenant.get("slug") or not stack.get("name"):
                continue
            desired = str(stack.get("desired_state") or "running")
            if tenant.get("status") in ("suspended", "deleted"):
                desired = str(tenant["status"])
            records.append(
                StackRecord(
                    tenant=str(tenant["slug"]),
                    stack=str(stack["name"]),
                    template=stack.get("template") or None,
                    plan=tenant.get("plan") or None,
                    desired_state=desired,
                    service_uuid=stack.get("coolify_service_uuid") or None,
                )
            )
        self.replace(records)
        log.debug("monitor.directory_refreshed", stacks=len(records))
