"""Backups on the real Docker engine with real named volumes and a real restic repository; the stack is
stopped and started through the fake Coolify, records live in a real PocketBase."""

from __future__ import annotations

from pathlib import Path

import pytest
from structlog.testing import capture_logs

from functions.context import open_context
from functions.operations.backups import list_backups, restore_backup, run_backup
from functions.operations.backups.policy import stack_selector
from functions.operations.backups.restic import Restic
from functions.operations.provision import ProvisionRequest, provision
from shared.errors import AuthError, ConflictError, InvalidInput, NotFoundError, PlanLimitError
from shared.pocketbase.client import PocketBase
from tests.docker_fixture import DockerEngine
from tests.fakes.coolify import FakeCoolify
from tests.functions.backups.conftest import PASSWORD, factory_for, fingerprint, provision_stateful
from tests.functions.conftest import ROUTER_KEY, ContextFactory, records

pytestmark = pytest.mark.anyio

DATA = (
    "mkdir -p /v/.openclaw/sessions && head -c 262144 /dev/urandom > /v/.openclaw/state.bin"
    " && echo hello > /v/note && ln -s .openclaw/state.bin /v/link && mkdir /v/empty"
    " && chown -R 1000:1000 /v/.openclaw && chmod 640 /v/.openclaw/state.bin"
)


async def test_restore_brings_back_the_same_bytes(
    make_ctx: ContextFactory, docker_engine: DockerEngine, restic_repo: Path, pb: PocketBase
) -> None:
    """Write files, back up, destroy them (and add a stray file), restore: the same files, owners,
    modes, symlink and bytes come back, nothing else; the stack was stopped, restored, started again,
    every step audited; the password appears in no log line, audit event or record."""
    ctx = factory_for(make_ctx, restic_repo, docker_engine)
    stack = await provision_stateful(ctx(), docker_engine)
    assert docker_engine.sh(DATA, {stack.volume: {"bind": "/v", "mode": "rw"}})[0] == 0
    before = fingerprint(docker_engine, stack.volume)

    with capture_logs() as logs:
        backup = await run_backup(ctx(), "globex", "agent")
        assert backup.volumes == ["openclaw-home"] and backup.bytes_processed > 262144
        listed = await list_backups(ctx(), "globex", "agent")
        assert [s.id for s in listed] == [backup.snapshot]
        assert (listed[0].volumes, listed[0].service_uuid) == (["openclaw-home"], stack.service_uuid)

        code, _ = docker_engine.sh(
            "rm -rf /v/.openclaw /v/note && echo stray > /v/stray",
            {stack.volume: {"bind": "/v", "mode": "rw"}},
        )
        assert code == 0 and fingerprint(docker_engine, stack.volume) != before

        restored = await restore_backup(ctx(), "globex", "agent", backup.snapshot[:6])

    assert fingerprint(docker_engine, stack.volume) == before
    assert (restored.status, restored.desired_state, restored.stopped, restored.started) == (
        "running",
        "running",
        True,
        True,
    )
    record = (await records(pb, "stacks"))[0]
    assert record["last_backup_snapshot"] == backup.snapshot and record["last_backup_at"]
    actions = [
        e["action"] for e in sorted(await records(pb, "audit_events"), key=lambda e: (e["time"], e["seq"]))
    ]
    restore_steps = [a for a in actions if a.startswith(("backup.", "suspend.", "resume."))]
    assert restore_steps == [
        "backup.requested",
        "backup.completed",
        "backup.restore_requested",
        "suspend.requested",
        "suspend.completed",
        "backup.restore_stopped",
        "backup.restored",
        "resume.requested",
        "resume.completed",
        "backup.restore_started",
    ]
    assert PASSWORD not in repr(logs)
    assert PASSWORD not in repr(await records(pb, "audit_events")) + repr(await records(pb, "stacks"))
    assert {"backup.completed", "backup.restored"} <= {e["event"] for e in logs}
    leftovers = docker_engine.api.volumes(filters={"label": "cf.purpose=backup"})["Volumes"] or []
    assert leftovers == []  # the staging volume is gone
    assert docker_engine.api.containers(all=True, filters={"label": "cf.purpose=backup"}) == []


async def test_refused_and_crashed_restores_leave_the_data_and_the_stack_as_they_were(
    make_ctx: ContextFactory,
    docker_engine: DockerEngine,
    restic_repo: Path,
    pb: PocketBase,
    coolify_fake: FakeCoolify,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A snapshot of another stack, an unknown one and a malformed id are refused before anything
    happens. When Coolify reports the stack stopped but a container still runs with its volume,
    nothing is restored, the data stays, the stack is started again and the refusal audited. A restore
    that dies after stopping the stack leaves it suspended; the next one restores and starts it again,
    because the first recorded the state it came from. A dry run checks it all and changes nothing."""
    import functions.operations.backups.restore as restore_module

    ctx = factory_for(make_ctx, restic_repo, docker_engine)
    stack = await provision_stateful(ctx(), docker_engine)
    assert docker_engine.sh(DATA, {stack.volume: {"bind": "/v", "mode": "rw"}})[0] == 0
    backed_up = fingerprint(docker_engine, stack.volume)
    backup = await run_backup(ctx(), "globex", "agent")
    assert docker_engine.sh("echo newer > /v/note", {stack.volume: {"bind": "/v", "mode": "rw"}})[0] == 0
    current = fingerprint(docker_engine, stack.volume)

    other = await Restic(ctx().settings).backup(
        lambda write: write(b"another stack's data"),
        filename="volumes.tar",
        tags=[*stack_selector("globex", "other"), "volume=openclaw-home"],
        when=ctx().wall(),
    )
    with pytest.raises(ConflictError, match="is a backup of globex/other"):
        await restore_backup(ctx(), "globex", "agent", other.snapshot_id)
    with pytest.raises(NotFoundError, match="no snapshot"):
        await restore_backup(ctx(), "globex", "agent", "abcdef12")
    with pytest.raises(InvalidInput, match="not a snapshot id"):
        await restore_backup(ctx(), "globex", "agent", "latest; rm -rf /")
    assert not any(e["action"].startswith("suspend.") for e in await records(pb, "audit_events"))

    _, squatter = docker_engine.sh("sleep 300", {stack.volume: {"bind": "/data", "mode": "rw"}}, detach=True)
    with pytest.raises(ConflictError, match="still mounted by running container"):
        await restore_backup(ctx(), "globex", "agent", backup.snapshot)
    docker_engine.api.remove_container(squatter, force=True)
    assert fingerprint(docker_engine, stack.volume) == current
    record = (await records(pb, "stacks"))[0]
    assert (record["desired_state"], record["status"]) == ("running", "running")
    events = await records(pb, "audit_events")
    refusals = [e for e in events if e["action"] == "backup.restore" and e["outcome"] == "refused"]
    assert len(refusals) == 4 and "still mounted" in refusals[-1]["details"]["reason"]
    assert "backup.restored" not in {e["action"] for e in events}

    writes, trail = len(coolify_fake.write_calls), len(events)
    async with open_context(
        ctx().settings, dry_run=True, changes_coolify=True, pb=pb, coolify_transport=coolify_fake.transport()
    ) as dry:
        planned = await restore_backup(dry, "globex", "agent", backup.snapshot)
    assert (planned.dry_run, planned.stopped, planned.volumes) == (True, True, ["openclaw-home"])
    assert [(c["method"], c["sent"]) for c in planned.calls if c["method"] != "GET"] == [
        ("POST", False),
        ("POST", False),
    ]
    assert len(coolify_fake.write_calls) == writes and len(await records(pb, "audit_events")) == trail
    assert fingerprint(docker_engine, stack.volume) == current

    real = restore_module._restore_volumes

    async def crash(*_args: object) -> None:
        raise SystemExit("the process died")

    monkeypatch.setattr(restore_module, "_restore_volumes", crash)
    with pytest.raises(SystemExit):
        await restore_backup(ctx(), "globex", "agent", backup.snapshot)
    assert (await records(pb, "stacks"))[0]["status"] == "suspended"
    monkeypatch.setattr(restore_module, "_restore_volumes", real)
    restored = await restore_backup(ctx(), "globex", "agent", backup.snapshot)
    assert (restored.status, restored.stopped, restored.started) == ("running", False, True)
    assert fingerprint(docker_engine, stack.volume) == backed_up


async def test_refusals_change_nothing(
    make_ctx: ContextFactory, acme: str, docker_engine: DockerEngine, restic_repo: Path, pb: PocketBase
) -> None:
    """Starter has no backups; a wrong password is an authentication error that does not show it;
    without a repository the operations say how to configure one."""
    ctx = factory_for(make_ctx, restic_repo, docker_engine)
    stack = await provision_stateful(ctx(), docker_engine)
    starter = ProvisionRequest(
        tenant="acme", template="openclaw-agent", stack="agent", params={"router_api_key": ROUTER_KEY}
    )
    starter_uuid = (await provision(ctx(), starter)).service_uuid
    with pytest.raises(PlanLimitError, match="plan starter has no backups"):
        await run_backup(ctx(), "acme", "agent")
    from shared.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="CFA_BACKUP_REPOSITORY is not set"):
        await run_backup(make_ctx(), "globex", "agent")
    wrong = "not-the-restic-password-99"
    with capture_logs() as logs, pytest.raises(AuthError, match="refused the password") as raised:
        await run_backup(ctx(backup_password=wrong), "globex", "agent")
    assert wrong not in str(raised.value) + repr(logs)
    record = next(r for r in await records(pb, "stacks") if r["coolify_service_uuid"] == stack.service_uuid)
    assert "refused the password" in record["last_backup_error"] and wrong not in record["last_backup_error"]
    assert not record["last_backup_at"]
    assert starter_uuid != stack.service_uuid
