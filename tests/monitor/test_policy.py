"""Tests for monitor.policy: silences and suspended or deleted stacks hold pages back."""

from __future__ import annotations

from pathlib import Path

from monitor.directory import StackRecord, StaticDirectory
from monitor.incidents import Incident
from monitor.policy import Policy
from monitor.silences import SilenceStore
from monitor.store import Database
from tests.monitor.fakes import T0


def incident(tenant: str | None = "acme", stack: str | None = "bot") -> Incident:
    return Incident(
        id="i1",
        fingerprint="f",
        kind="oom-killed",
        severity="critical",
        state="firing",
        host="h",
        tenant=tenant,
        stack=stack,
        subject="cf-acme-bot",
        detail="d",
        opened_at=T0,
        last_seen_at=T0,
    )


def test_pages_pass_unless_silenced_or_the_stack_is_really_stopped(tmp_path: Path) -> None:
    """No silence and a running stack: allowed. Only an observed suspended/deleted status suppresses;
    a desired state or a transitional status alone does not. Each suppression names its reason."""
    db = Database(tmp_path / "m.db")
    silences = SilenceStore(db)
    directory = StaticDirectory(
        [
            StackRecord(tenant="acme", stack="bot"),
            StackRecord(tenant="acme", stack="old", desired_state="deleted", status="deleted"),
            StackRecord(tenant="acme", stack="failed-suspend", desired_state="suspended", status="running"),
            StackRecord(tenant="acme", stack="going", desired_state="suspended", status="suspending"),
            StackRecord(
                tenant="acme",
                stack="off",
                desired_state="suspended",
                status="suspended",
                coolify_status="exited",
            ),
        ]
    )
    policy = Policy(silences, directory)
    assert policy.suppression(incident(), T0) is None
    assert policy.suppression(incident(tenant=None, stack=None), T0) is None
    assert policy.suppression(incident(stack="old"), T0) == "stack status is deleted"
    assert policy.suppression(incident(stack="failed-suspend"), T0) is None
    assert policy.suppression(incident(stack="going"), T0) is None
    assert policy.suppression(incident(stack="off"), T0) == "stack status is suspended (Coolify: exited)"
    silence = silences.add(
        tenant="acme", stack=None, kind=None, now=T0, duration=60, reason="r", created_by="me"
    )
    reason = policy.suppression(incident(), T0 + 1)
    assert reason is not None and reason.startswith(f"silence {silence.id} (tenant acme) until ")
    assert policy.suppression(incident(), T0 + 61) is None
    db.close()
