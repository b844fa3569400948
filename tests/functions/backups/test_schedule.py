"""cfa serve's backup schedule (functions/sources/backups.py): the daily run with retention and
PocketBase's backup, and the missed-backup check with one alert per episode."""

from __future__ import annotations

import io
import os
import sqlite3
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from functions.alerts import Alert, Alerter
from functions.context import Context
from functions.locks import stamp
from functions.operations.backups.policy import POCKETBASE_SELECTOR, stack_selector
from functions.operations.backups.restic import Restic, Write
from functions.operations.provision import ProvisionRequest, provision
from functions.runtime import Runtime
from functions.sources.backups import BackupSchedule
from shared.pocketbase.client import PocketBase
from tests.docker_fixture import DockerEngine
from tests.functions.backups.conftest import factory_for, provision_stateful
from tests.functions.conftest import ROUTER_KEY, ContextFactory, records

pytestmark = pytest.mark.anyio


class RecordingAlerter(Alerter):
    """Keeps what would have been sent."""

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx.settings)
        self.raised: list[Alert] = []

    def send(self, alert: Alert) -> None:
        self.raised.append(alert)


def runtime(ctx: Context) -> Runtime:
    return Runtime(
        settings=ctx.settings,
        pb=ctx.pb,
        coolify=ctx.coolify,
        catalog=ctx.catalog,
        alerter=RecordingAlerter(ctx),
    )


def repository_bytes(repository: Path) -> int:
    return sum(p.stat().st_size for p in (repository / "data").rglob("*") if p.is_file())


async def test_the_daily_run_keeps_exactly_what_the_policy_says_and_backs_up_pocketbase(
    make_ctx: ContextFactory, docker_engine: DockerEngine, restic_repo: Path, pb: PocketBase, tmp_path: Path
) -> None:
    """With 2 daily + 2 weekly kept, after daily snapshots from Friday to Monday and the run on Tuesday
    the stack keeps Tuesday and Monday (daily) and Sunday (the newest of the week before): Friday's
    and Saturday's are forgotten and their data pruned. Another stack's snapshots are not touched.
    PocketBase's snapshot holds its database (the tenant is in it); its backup file is deleted from
    PocketBase again."""
    ctx = factory_for(make_ctx, restic_repo, docker_engine, backup_keep_daily=2, backup_keep_weekly=2)
    stack = await provision_stateful(ctx(), docker_engine)
    assert docker_engine.sh("echo data > /v/file", {stack.volume: {"bind": "/v", "mode": "rw"}})[0] == 0
    restic = Restic(ctx().settings)
    history = [datetime(2026, 1, day, 3, 0, tzinfo=UTC) for day in (9, 10, 11, 12)]  # Fri … Mon
    for day in history:
        unique = os.urandom(3_000_000)  # nothing shared with the others, nothing to compress

        def feed(write: Write, data: bytes = unique) -> None:
            write(data)

        await restic.backup(
            feed,
            filename="volumes.tar",
            tags=[*stack_selector("globex", "agent"), "volume=openclaw-home"],
            when=day,
        )
    other = await restic.backup(
        lambda write: write(b"other"),
        filename="volumes.tar",
        tags=stack_selector("globex", "other"),
        when=history[0],
    )
    before = repository_bytes(restic_repo)

    schedule = BackupSchedule(runtime(ctx()), wall=lambda: datetime(2026, 1, 13, 3, 0, tzinfo=UTC))  # Tue
    report = await schedule.run_daily()

    assert (report.backed_up, report.failed, report.forgotten) == (["globex/agent"], [], 2)
    kept = [s.time.day for s in await restic.snapshots(stack_selector("globex", "agent"))]
    assert kept == [11, 12, 13]
    assert [s.short_id for s in await restic.snapshots(stack_selector("globex", "other"))] == [
        other.snapshot_id
    ]
    # two forgotten snapshots free 6 MB; the new ones (the volume, PocketBase's zip) add well under 2 MB
    assert repository_bytes(restic_repo) < before - 4_000_000
    assert (await records(pb, "stacks"))[0]["last_backup_at"].startswith("2026-01-13 03:00:00")

    [snapshot] = await restic.snapshots(POCKETBASE_SELECTOR)
    assert snapshot.short_id == report.pocketbase
    dumped = io.BytesIO()

    def collect(chunks: Iterator[bytes]) -> None:
        for chunk in chunks:
            dumped.write(chunk)

    await restic.dump(snapshot.id, "pocketbase.zip", collect)
    with zipfile.ZipFile(dumped) as archive:
        (tmp_path / "data.db").write_bytes(archive.read("data.db"))
    with sqlite3.connect(tmp_path / "data.db") as db:
        assert db.execute("select slug from tenants").fetchall() == [("globex",)]
    assert (await pb.request("GET", "/api/backups")).json() == []
    assert schedule.rt.alerter.raised == []  # type: ignore[attr-defined]


async def test_a_missed_or_failed_backup_raises_one_alert_per_episode(
    make_ctx: ContextFactory, acme: str, docker_engine: DockerEngine, restic_repo: Path, pb: PocketBase
) -> None:
    """A team stack without a backup for 30 h: one alert, however often the check runs; its failing
    daily backup does not page again (and the restic it had to stop leaves no lock behind). A newer
    last backup that goes stale starts a new episode. A starter stack is not watched."""
    ctx = factory_for(make_ctx, restic_repo, docker_engine)
    stack = await provision_stateful(ctx(), docker_engine)
    starter = ProvisionRequest(
        tenant="acme", template="openclaw-agent", stack="agent", params={"router_api_key": ROUTER_KEY}
    )
    await provision(ctx(), starter)
    now = datetime.now(UTC)
    for record in await records(pb, "stacks"):
        await pb.update_record("stacks", record["id"], {"last_backup_at": stamp(now - timedelta(hours=30))})
    schedule = BackupSchedule(runtime(ctx()))
    raised: list[Alert] = schedule.rt.alerter.raised  # type: ignore[attr-defined]

    assert await schedule.check_missed() == ["globex/agent"]
    assert await schedule.check_missed() == ["globex/agent"]
    assert [(a.runbook, a.title) for a in raised] == [("backup-failed", "no backup of globex/agent for 26 h")]

    docker_engine.api.remove_volume(stack.volume)  # its daily backup fails now
    report = await schedule.run_daily()
    assert report.failed == ["globex/agent"] and report.pocketbase
    assert list((restic_repo / "locks").iterdir()) == []  # the stopped restic's lock was removed
    assert len(raised) == 1
    record = next(r for r in await records(pb, "stacks") if r["coolify_service_uuid"] == stack.service_uuid)
    assert "does not exist" in record["last_backup_error"]

    await pb.update_record("stacks", record["id"], {"last_backup_at": stamp(now - timedelta(hours=27))})
    await schedule.check_missed()
    assert len(raised) == 2 and "The last attempt failed" in raised[1].body
    assert [
        e["details"]["key"] for e in await records(pb, "audit_events") if e["action"] == "backup.alerted"
    ] == [
        f"stack:{record['id']}:{stamp(now - timedelta(hours=30))}",
        f"stack:{record['id']}:{stamp(now - timedelta(hours=27))}",
    ]


async def test_the_schedule_is_off_without_a_repository_and_says_so(
    make_ctx: ContextFactory, docker_engine: DockerEngine, restic_repo: Path
) -> None:
    """No repository: no jobs, one log line. With one: the daily run at CFA_BACKUP_TIME (UTC) and the
    hourly check."""
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    scheduler = AsyncIOScheduler()
    with capture_logs() as logs:
        assert BackupSchedule(runtime(make_ctx())).install(scheduler) is False
    assert scheduler.get_jobs() == []
    assert [e["event"] for e in logs if e["event"].startswith("backup.")] == ["backup.schedule_off"]

    ctx = factory_for(make_ctx, restic_repo, docker_engine, backup_time="04:30")
    assert BackupSchedule(runtime(ctx())).install(scheduler) is True
    jobs = {job.id: str(job.trigger) for job in scheduler.get_jobs()}
    assert jobs == {"backups": "cron[hour='4', minute='30']", "backup-check": "interval[1:00:00]"}
