"""The reconciler: every stack's desired state against all of Coolify, at start and every
``CFA_RECONCILE_INTERVAL_SECONDS``, for a constant two Coolify calls per pass (``GET /services`` and
``GET /projects``), whatever the number of stacks.

It repairs drift through the handlers (``StackDriftFound``): a service that is missing or stopped for a
stack that should run, a service that runs for a stack that should be suspended; a secret rotation
left unfinished (``rotation_pending``, not pushed) goes to the stack's own handler, which finishes it.
It reports orphans once each — an audit event ``reconcile.orphan_found`` (found again by its
``details.key``) and an alert — and never deletes them: ``cf-*`` services and projects no record
knows, and records whose service is gone without a delete (those are also repaired). Stacks in a
transitional status are the poller's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from functions.alerts import Alert
from functions.events import StackDriftFound, StackRecordChanged
from functions.operations.settle import TRANSITIONAL
from functions.records import Stack, Tenant
from functions.runtime import Runtime
from shared.coolify.models import ServiceStatus
from shared.logging import get_logger
from shared.naming import PROJECT_PREFIX
from shared.pocketbase.filters import pb_filter

log = get_logger()


@dataclass
class ReconcileReport:
    stacks: int = 0
    coolify_calls: int = 0
    seconds: float = 0.0
    drift: dict[str, int] = field(default_factory=dict)
    orphans: list[str] = field(default_factory=list)  # every orphan seen this pass
    reported: list[str] = field(default_factory=list)  # the ones reported for the first time


class Reconciler:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def reconcile_once(self) -> ReconcileReport:
        started = time.monotonic()
        ctx = self.rt.context()
        calls = ctx.coolify.calls
        services = await ctx.coolify.list_services()
        projects = await ctx.coolify.list_projects()
        report = ReconcileReport(coolify_calls=ctx.coolify.calls - calls)
        tenants = {t.id: t for t in await ctx.store.list_tenants()}
        stacks = await ctx.store.list_all_stacks()
        report.stacks = len(stacks)
        live = {s.uuid: s.parsed_status for s in services}
        for stack in stacks:
            tenant = tenants.get(stack.tenant)
            if tenant is not None:
                await self._check(report, tenant, stack, live)
        known_services = {s.coolify_service_uuid for s in stacks if s.coolify_service_uuid}
        for service in services:
            if service.name.startswith(PROJECT_PREFIX) and service.uuid not in known_services:
                await self._orphan(
                    report,
                    f"service:{service.uuid}",
                    f"Coolify service {service.name} ({service.uuid}) has no stack record",
                )
        known_projects = {t.coolify_project_uuid for t in tenants.values() if t.coolify_project_uuid}
        for project in projects:
            if project.name.startswith(PROJECT_PREFIX) and project.uuid not in known_projects:
                await self._orphan(
                    report,
                    f"project:{project.uuid}",
                    f"Coolify project {project.name} ({project.uuid}) has no tenant record",
                )
        await ctx.store.flush()
        report.seconds = time.monotonic() - started
        metrics = self.rt.metrics
        metrics.reconcile_calls.set(report.coolify_calls)
        for kind in ("service", "project", "record"):
            metrics.orphans.labels(kind=kind).set(sum(1 for o in report.orphans if o.startswith(kind)))
        log.info(
            "reconcile.finished",
            stacks=report.stacks,
            coolify_calls=report.coolify_calls,
            drift=report.drift,
            orphans=len(report.orphans),
            seconds=round(report.seconds, 3),
        )
        return report

    async def _check(
        self, report: ReconcileReport, tenant: Tenant, stack: Stack, live: dict[str, ServiceStatus]
    ) -> None:
        if stack.status in TRANSITIONAL:
            return
        unpushed = stack.rotation_pending and not stack.rotation_pending.get("pushed")
        if unpushed and stack.desired_state != "deleted":
            report.drift["rotation_pending"] = report.drift.get("rotation_pending", 0) + 1
            self.rt.metrics.drift.labels(kind="rotation_pending").inc()
            self.rt.submit(StackRecordChanged(stack_id=stack.id, source="reconciler"))
            return
        uuid = stack.coolify_service_uuid
        seen = live.get(uuid) if uuid else None
        active = (tenant.status or "active") == "active"
        kind = ""
        if stack.desired_state == "running" and active:
            if not uuid:
                if stack.status in ("pending", "deleted"):
                    kind = "not_created"
            elif seen is None:
                kind = "service_missing"
                await self._orphan(
                    report,
                    f"record:{stack.id}:{uuid}",
                    f"stack {tenant.slug}/{stack.name} lost its Coolify service {uuid} without a delete; "
                    "it is provisioned again",
                )
            elif seen.stopped and stack.status != "failed":
                kind = "stopped"
        elif stack.desired_state == "suspended" and seen is not None and not seen.stopped:
            kind = "running_while_suspended"
        if not kind:
            return
        report.drift[kind] = report.drift.get(kind, 0) + 1
        self.rt.metrics.drift.labels(kind=kind).inc()
        if kind == "not_created":
            self.rt.submit(StackRecordChanged(stack_id=stack.id, source="reconciler"))
        else:
            self.rt.submit(StackDriftFound(stack_id=stack.id, kind=kind, source="reconciler"))

    async def _orphan(self, report: ReconcileReport, key: str, text: str) -> None:
        report.orphans.append(key)
        ctx = self.rt.context()
        found = await ctx.pb.first(
            "audit_events", pb_filter("action = 'reconcile.orphan_found' && details.key = {:key}", key=key)
        )
        if found is not None:
            return
        report.reported.append(key)
        await ctx.store.audit("reconcile.orphan_found", outcome="failed", details={"key": key, "what": text})
        await ctx.store.flush()
        log.warning("reconcile.orphan_found", key=key, what=text)
        self.rt.alerter.send(
            Alert(
                severity="warning",
                title="orphan found by the reconciler",
                body=f"{text}\nNothing was deleted. Decide whether it holds a tenant's data.",
                runbook="reconcile-orphans",
            )
        )
