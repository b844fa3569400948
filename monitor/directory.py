"""What the monitor needs to know about stacks: who owns a compose project, desired state, budgets.

The monitor codes against :class:`StackDirectory`. :class:`StaticDirectory` is the in-process
implementation (used when PocketBase is not configured, and in tests); :mod:`monitor.pocketbase`
reads the PocketBase ``tenants`` and ``stacks`` records. Lookups are synchronous and answer from
memory, so attribution never waits on the network; ``refresh`` re-reads the source.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Protocol

from monitor.values import Value
from shared.logging import get_logger

log = get_logger()

# Observed stack statuses whose containers are really stopped or gone. Transitional ones (suspending,
# deleting) and a desired state alone never count: a failed suspend leaves a stack running.
STOPPED_STATUSES = frozenset({"suspended", "deleted"})


class StackRecord(Value):
    """One stack as the platform knows it: what was asked (``desired_state``) and what was last observed
    (``status``, and Coolify's own ``coolify_status`` such as ``running:healthy``)."""

    tenant: str
    stack: str
    template: str | None = None
    plan: str | None = None
    desired_state: str = "running"
    status: str = "running"
    coolify_status: str | None = None
    service_uuid: str | None = None


BudgetLookup = Callable[[str, str], int | None]


class StackDirectory(Protocol):
    def by_service_uuid(self, service_uuid: str) -> StackRecord | None:
        """The stack whose Coolify service uuid (= compose project) this is."""

    def get(self, tenant: str, stack: str) -> StackRecord | None:
        """The stack record, or None when unknown (then nothing is suppressed)."""

    def volume_budget(self, template: str, plan: str) -> int | None:
        """Bytes of volume space the plan grants one stack of this template; None when unknown."""

    async def refresh(self) -> None:
        """Re-read the source. Raises ``shared.errors.CfaError`` subclasses when it is unavailable."""


class StaticDirectory:
    """An in-memory directory: the given records and a budget lookup (e.g. :func:`catalog_budgets`)."""

    def __init__(self, records: Iterable[StackRecord] = (), budgets: BudgetLookup | None = None) -> None:
        self._budgets = budgets
        self.replace(records)

    def replace(self, records: Iterable[StackRecord]) -> None:
        by_key: dict[tuple[str, str], StackRecord] = {}
        by_uuid: dict[str, StackRecord] = {}
        for record in records:
            by_key[(record.tenant, record.stack)] = record
            if record.service_uuid:
                by_uuid[record.service_uuid] = record
        self._by_key, self._by_uuid = by_key, by_uuid

    def by_service_uuid(self, service_uuid: str) -> StackRecord | None:
        return self._by_uuid.get(service_uuid)

    def get(self, tenant: str, stack: str) -> StackRecord | None:
        return self._by_key.get((tenant, stack))

    def volume_budget(self, template: str, plan: str) -> int | None:
        return self._budgets(template, plan) if self._budgets else None

    async def refresh(self) -> None:
        return None


def catalog_budgets(templates_dir: Path) -> BudgetLookup:
    """Volume budgets from the template catalog (``shared.catalog``), read lazily and cached.

    A template or plan the catalog does not know, or a catalog that fails to load, yields None:
    the volume check then skips that stack instead of guessing a budget.
    """
    cache: dict[tuple[str, str], int | None] = {}
    catalog: list[object] = []

    def lookup(template: str, plan: str) -> int | None:
        if (template, plan) in cache:
            return cache[(template, plan)]
        budget: int | None = None
        try:
            if not catalog:
                from shared.catalog import load_catalog

                catalog.append(load_catalog(templates_dir))
            profile = catalog[0].get(template).profile(plan)  # type: ignore[attr-defined]
            budget = int(profile.volume_budget_bytes) or None
        except Exception as err:  # an unknown template or a broken catalog must not stop monitoring
            log.info("monitor.volume_budget_unknown", template=template, plan=plan, error=type(err).__name__)
        cache[(template, plan)] = budget
        return budget

    return lookup
