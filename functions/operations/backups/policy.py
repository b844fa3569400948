"""Which stacks are backed up, how snapshots are tagged and found, and what counts as missed.

Every snapshot carries ``kind=stack|pocketbase`` and, for a stack, ``tenant=``, ``stack=``,
``template=``, ``service=`` (the Coolify service uuid at the time) and one ``volume=`` per volume. A
stack's snapshots are found by kind, tenant and stack only, so they stay its own across a
re-provision that changes the service uuid (and the Docker volumes' names with it).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from functions.locks import parse_stamp
from functions.records import Stack, Tenant
from shared.catalog import Catalog
from shared.errors import ConflictError, InvalidInput, NotFoundError, PlanLimitError
from shared.settings import Settings

ARCHIVE = "volumes.tar"  # the one file of a stack snapshot (--stdin-filename)
POCKETBASE_ARCHIVE = "pocketbase.zip"
POCKETBASE_SELECTOR = ("kind=pocketbase",)


def frequency(settings: Settings, plan: str) -> str:
    """``daily`` or ``none`` (CFA_BACKUP_POLICY; a plan it does not name has none)."""
    return settings.backup_policy.get(plan, "none")


def stack_selector(tenant: str, stack: str) -> tuple[str, ...]:
    return ("kind=stack", f"tenant={tenant}", f"stack={stack}")


def stack_tags(tenant: Tenant, stack: Stack, volumes: dict[str, str]) -> list[str]:
    return [
        *stack_selector(tenant.slug, stack.name),
        f"template={stack.template}",
        f"service={stack.coolify_service_uuid}",
        *(f"volume={name}" for name in volumes),
    ]


def volume_names(catalog: Catalog, stack: Stack) -> list[str]:
    """The stack's named volumes as its template declares them (``stateful`` templates only)."""
    return [v.name for v in catalog.get(stack.template).meta.volumes]


def check_backup_allowed(settings: Settings, catalog: Catalog, tenant: Tenant, stack: Stack) -> list[str]:
    """The volume names to back up, or why this stack is not backed up (nothing is changed)."""
    ref = f"{tenant.slug}/{stack.name}"
    if frequency(settings, tenant.plan) == "none":
        raise PlanLimitError(
            f"plan {tenant.plan} has no backups (CFA_BACKUP_POLICY)",
            advice=f"move the tenant to a plan with backups (cfa tenants update {tenant.slug} --plan team), "
            "or change CFA_BACKUP_POLICY",
        )
    names = volume_names(catalog, stack)
    if not names:
        raise InvalidInput(
            "stack", f"{ref} (template {stack.template}) keeps no data: there is nothing to back up"
        )
    if stack.desired_state == "deleted":
        raise ConflictError(f"stack {ref} is deleted", advice="its earlier backups are in cfa backup list")
    if not stack.coolify_service_uuid:
        raise ConflictError(
            f"stack {ref} has no Coolify service yet, so no volumes",
            advice=f"provision it first: cfa provision {tenant.slug} {stack.template} --name {stack.name}",
        )
    return names


def scheduled(settings: Settings, catalog: Catalog, tenant: Tenant, stack: Stack) -> bool:
    """Whether the daily schedule backs this stack up (and the missed-backup check watches it)."""
    if tenant.status == "deleted" or stack.status in ("pending", "deleted"):
        return False
    try:
        check_backup_allowed(settings, catalog, tenant, stack)
    except (PlanLimitError, InvalidInput, ConflictError, NotFoundError):
        return False
    return True


def missed_since(stack: Stack, now: datetime, hours: float) -> datetime | None:
    """When the stack's last backup (or its creation, if it never had one) was, if that is more than
    ``hours`` ago; None while it is fresh."""
    since = parse_stamp(stack.last_backup_at) or parse_stamp(stack.created)
    if since is None or now - since <= timedelta(hours=hours):
        return None
    return since
