"""``cfa serve``'s backup schedule: the daily backups per plan (CFA_BACKUP_POLICY, at
CFA_BACKUP_TIME UTC), PocketBase's own backup, retention, and the hourly missed-backup check.

The daily run backs up every stack the policy covers, one after the other (waiting up to
``_LOCK_WAIT`` for a busy tenant), applies the retention policy to each stack's snapshots right after
its backup, then backs up PocketBase and prunes the repository once. A stack whose backup fails, or
whose last backup is older than CFA_BACKUP_MISSED_HOURS, raises **one** alert (runbook
backup-failed) per episode: the alert is keyed by the stack and its last successful backup and
recorded in the audit trail (``backup.alerted``), so neither the next failure nor the next hourly
check repeats it, also across restarts and replicas; the next success ends the episode.

Without a configured repository the schedule is off (``backup.schedule_off`` in the log).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from functions.alerts import Alert
from functions.context import Context
from functions.locks import parse_stamp
from functions.operations.backups import policy
from functions.operations.backups.pocketbase_backup import backup_pocketbase
from functions.operations.backups.restic import Restic
from functions.operations.backups.stack_backup import apply_retention, run_backup
from functions.records import Stack, Tenant
from functions.runtime import Runtime
from shared.errors import CfaError, ConfigurationError
from shared.logging import get_logger
from shared.pocketbase.filters import pb_filter

log = get_logger()

_LOCK_WAIT = 600.0  # a busy tenant (a provision, a restore) is waited for this long
MISSED_CHECK_SECONDS = 3600.0


@dataclass
class DailyReport:
    backed_up: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    forgotten: int = 0
    pocketbase: str = ""  # the snapshot, or "" when it failed


class BackupSchedule:
    def __init__(self, rt: Runtime, *, wall: Callable[[], datetime] | None = None) -> None:
        self.rt = rt
        self.wall = wall or (lambda: datetime.now(UTC))
        self.started = self.wall()

    def context(self) -> Context:
        ctx = self.rt.context()
        ctx.wall = self.wall
        ctx.lock_wait = _LOCK_WAIT
        return ctx

    def install(self, scheduler: AsyncIOScheduler) -> bool:
        """Add the daily run and the hourly check; False (and a log line) when backups are off."""
        try:
            Restic(self.rt.settings)
        except ConfigurationError as err:
            log.warning("backup.schedule_off", reason=err.message, advice=err.advice)
            return False
        hour, minute = (int(part) for part in self.rt.settings.backup_time.split(":"))
        scheduler.add_job(
            self.run_daily,
            "cron",
            hour=hour,
            minute=minute,
            timezone=UTC,
            id="backups",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=3600,
        )
        scheduler.add_job(
            self.check_missed,
            "interval",
            seconds=MISSED_CHECK_SECONDS,
            id="backup-check",
            max_instances=1,
            coalesce=True,
        )
        log.info(
            "backup.schedule_on",
            at=self.rt.settings.backup_time,
            repository=self.rt.settings.backup_repository,
        )
        return True

    async def _covered(self, ctx: Context) -> list[tuple[Tenant, Stack]]:
        tenants = {t.id: t for t in await ctx.store.list_tenants()}
        return [
            (tenants[s.tenant], s)
            for s in await ctx.store.list_all_stacks()
            if s.tenant in tenants and policy.scheduled(ctx.settings, ctx.catalog, tenants[s.tenant], s)
        ]

    async def run_daily(self) -> DailyReport:
        """Back up every covered stack and PocketBase, apply retention, prune. Never raises a
        CfaError: each failure is recorded, logged and alerted."""
        report = DailyReport()
        ctx = self.context()
        try:
            restic = Restic(ctx.settings)
            await restic.unlock()  # locks left by a killed restic would block the prune
            covered = await self._covered(ctx)
        except CfaError as err:
            log.error("backup.daily_failed", error=err.kind, reason=err.message)
            self._alert(
                "the daily backups could not start", err.one_line(), command="cfa backup list TENANT/STACK"
            )
            return report
        for tenant, stack in covered:
            ref = f"{tenant.slug}/{stack.name}"
            try:
                await run_backup(self.context(), tenant.slug, stack.name)
                forgot = await apply_retention(
                    self.context(), restic, policy.stack_selector(tenant.slug, stack.name)
                )
                report.forgotten += len(forgot.removed)
                report.backed_up.append(ref)
            except CfaError as err:
                report.failed.append(ref)
                log.warning("backup.scheduled_failed", tenant=tenant.slug, stack=stack.name, error=err.kind)
                await self._stack_alert(ctx, tenant, stack, f"the backup of {ref} failed", err.one_line())
        report.pocketbase = await self._pocketbase(ctx, restic)
        try:
            await restic.prune()
        except CfaError as err:
            log.warning("backup.prune_failed", error=err.kind, reason=err.message)
        await ctx.store.flush()
        log.info(
            "backup.daily_finished",
            backed_up=len(report.backed_up),
            failed=len(report.failed),
            forgotten=report.forgotten,
            pocketbase=report.pocketbase or "failed",
        )
        return report

    async def _pocketbase(self, ctx: Context, restic: Restic) -> str:
        try:
            result = await backup_pocketbase(self.context())
            await apply_retention(self.context(), restic, policy.POCKETBASE_SELECTOR)
            return result.snapshot
        except CfaError as err:
            last = await self._last_pocketbase_backup(ctx)
            await self._keyed_alert(
                ctx, f"pocketbase:{last or 'never'}", "the backup of PocketBase failed", err.one_line()
            )
            return ""

    async def check_missed(self) -> list[str]:
        """Alert (once per episode) for each covered stack, and PocketBase, whose last backup is older
        than CFA_BACKUP_MISSED_HOURS; returns what is overdue. A failure to check is only logged (the
        next check runs in an hour; PocketBase's own outage has its alert)."""
        try:
            return await self._check_missed()
        except CfaError as err:
            log.warning("backup.check_failed", error=err.kind, reason=err.message)
            return []

    async def _check_missed(self) -> list[str]:
        ctx = self.context()
        now, hours = self.wall(), ctx.settings.backup_missed_hours
        overdue = []
        for tenant, stack in await self._covered(ctx):
            since = policy.missed_since(stack, now, hours)
            if since is None:
                continue
            ref = f"{tenant.slug}/{stack.name}"
            overdue.append(ref)
            what = (
                f"its last backup was at {stack.last_backup_at}"
                if stack.last_backup_at
                else "it was never backed up"
            )
            body = f"No backup of {ref} for more than {hours:g} h: {what}."
            if stack.last_backup_error:
                body += f"\nThe last attempt failed: {stack.last_backup_error}"
            await self._stack_alert(ctx, tenant, stack, f"no backup of {ref} for {hours:g} h", body)
        last = await self._last_pocketbase_backup(ctx)
        since_pb = parse_stamp(last) if last else self.started
        if since_pb is not None and (now - since_pb).total_seconds() > hours * 3600:
            overdue.append("pocketbase")
            await self._keyed_alert(
                ctx,
                f"pocketbase:{last or 'never'}",
                f"no backup of PocketBase for {hours:g} h",
                f"The last one was at {last}." if last else "There has been none since cfa serve started.",
            )
        if overdue:
            log.warning("backup.missed", overdue=overdue)
        return overdue

    async def _last_pocketbase_backup(self, ctx: Context) -> str:
        found = await ctx.pb.first(
            "audit_events", "action = 'backup.pocketbase_completed'", sort="-time,-seq"
        )
        return str(found["time"]) if found else ""

    async def _stack_alert(self, ctx: Context, tenant: Tenant, stack: Stack, title: str, body: str) -> None:
        key = f"stack:{stack.id}:{stack.last_backup_at or 'never'}"
        command = f"cfa backup run {tenant.slug}/{stack.name}"
        await self._keyed_alert(ctx, key, title, body, command=command, tenant=tenant.slug, stack=stack.name)

    async def _keyed_alert(
        self,
        ctx: Context,
        key: str,
        title: str,
        body: str,
        *,
        command: str = "cfa backup run pocketbase",
        tenant: str = "",
        stack: str = "",
    ) -> None:
        """One alert per key: the audit trail remembers which were sent."""
        found = await ctx.pb.first(
            "audit_events", pb_filter("action = 'backup.alerted' && details.key = {:key}", key=key)
        )
        if found is not None:
            return
        await ctx.store.audit(
            "backup.alerted",
            outcome="failed",
            tenant=tenant,
            stack=stack,
            details={"key": key, "title": title},
        )
        await ctx.store.flush()
        self._alert(title, body, command=command)

    def _alert(self, title: str, body: str, *, command: str) -> None:
        self.rt.alerter.send(
            Alert(
                severity="critical",
                title=title,
                body=f"{body}\nAfter fixing the cause, run it by hand: {command}",
                runbook="backup-failed",
            )
        )
