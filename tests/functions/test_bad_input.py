"""Bad input: each hostile or invalid request gets a clear error, makes zero Coolify writes and no
PocketBase write except one audit record of the refusal."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from functions.context import Context
from functions.operations.delete import delete
from functions.operations.provision import ProvisionRequest, provision
from functions.operations.resume import resume
from functions.operations.suspend import suspend
from functions.operations.tenants import create_tenant
from shared.errors import (
    CfaError,
    ConflictError,
    InvalidInput,
    NotFoundError,
    PlanLimitError,
)
from shared.pocketbase.client import PocketBase
from tests.fakes.coolify import FakeCoolify
from tests.functions.conftest import BOT_PARAMS, ContextFactory

pytestmark = pytest.mark.anyio

Call = Callable[[Context], Awaitable[Any]]


def prov(
    tenant: str = "acme", template: str = "telegram-bot", stack: str | None = "extra", **params: Any
) -> Call:
    merged = {**BOT_PARAMS, **params}
    for key in [k for k, v in merged.items() if v is None]:
        del merged[key]
    request = ProvisionRequest(tenant=tenant, template=template, stack=stack, params=merged)
    return lambda ctx: provision(ctx, request)


CASES: list[tuple[str, Call, type[CfaError], str]] = [
    # tenant slugs
    ("slug upper-case", prov(tenant="ACME"), InvalidInput, "upper-case"),
    ("slug with space", prov(tenant="ac me"), InvalidInput, "not allowed"),
    ("slug path traversal", prov(tenant="../etc"), InvalidInput, "not allowed"),
    ("slug filter injection", prov(tenant="acme' || slug != '"), InvalidInput, "not allowed"),
    ("slug empty", prov(tenant=""), InvalidInput, "empty"),
    ("slug too long", prov(tenant="a" * 64), InvalidInput, "at most 30"),
    ("slug non-ASCII", prov(tenant="acmé"), InvalidInput, "not allowed"),
    ("slug newline", prov(tenant="acme\nx"), InvalidInput, "not allowed"),
    ("unknown tenant", prov(tenant="globex"), NotFoundError, "does not exist"),
    ("suspended tenant", prov(tenant="frozen"), ConflictError, "is suspended"),
    # templates and stacks
    ("unknown template", prov(template="wordpress"), NotFoundError, "unknown template"),
    ("template path", prov(template="../telegram-bot"), NotFoundError, "unknown template"),
    ("stack bad characters", prov(stack="Bot!"), InvalidInput, "upper-case"),
    ("stack traversal", prov(stack="bot/../x"), InvalidInput, "not allowed"),
    ("stack too long", prov(stack="b" * 31), InvalidInput, "at most 30"),
    ("stack reserved", prov(stack="admin"), InvalidInput, "reserved"),
    (
        "stack other template",
        prov(stack="web", template="telegram-bot"),
        ConflictError,
        "runs template probe",
    ),
    # parameters
    ("unknown parameter", prov(tokenn="x"), InvalidInput, "no parameter 'tokenn'"),
    ("newline breaks YAML", prov(model="gpt\nimage: evil:1"), InvalidInput, "a newline"),
    ("jinja in value", prov(model="{{ secrets }}"), InvalidInput, "'{{'"),
    ("compose interpolation", prov(model="${ROUTER_API_KEY}"), InvalidInput, "'${'"),
    ("quote trick", prov(model='x", "image": "evil'), InvalidInput, "expected format"),
    ("bidi override", prov(system_prompt="hi \u202e evil"), InvalidInput, "U+202E"),
    ("token format", prov(telegram_token="not-a-token"), InvalidInput, "expected format"),
    ("token command substitution", prov(telegram_token="123456:$(id)"), InvalidInput, "'$('"),
    ("integer text", prov(history_turns="many"), InvalidInput, "whole number"),
    ("integer range", prov(history_turns="500"), InvalidInput, "at most 50"),
    ("integer list", prov(allowed_chat_ids="1,abc"), InvalidInput, "whole number"),
    ("image latest", prov(image="evil.example/image:latest"), InvalidInput, "not pinned"),
    ("image unpinned", prov(image="evil.example/image"), InvalidInput, "not pinned"),
    ("missing secret", prov(telegram_token=None), InvalidInput, "is required"),
    # plans
    ("template above plan", prov(template="probe-team"), PlanLimitError, "needs plan team"),
    ("over quota", prov(tenant="full"), PlanLimitError, "allows 2 stacks; tenant full has 2"),
    # lifecycle
    ("suspend unknown stack", lambda ctx: suspend(ctx, "acme", "nope"), NotFoundError, "no stack 'nope'"),
    ("resume bad slug", lambda ctx: resume(ctx, "Acme", "bot"), InvalidInput, "upper-case"),
    ("delete unknown tenant", lambda ctx: delete(ctx, "globex", "bot"), NotFoundError, "does not exist"),
    # tenants
    (
        "tenant unknown plan",
        lambda ctx: create_tenant(ctx, "newco", plan="gold"),
        InvalidInput,
        "unknown plan",
    ),
    (
        "tenant name control char",
        lambda ctx: create_tenant(ctx, "newco", plan="starter", name="New\x1bCo"),
        InvalidInput,
        "U+001B",
    ),
    (
        "sovereign without limit",
        lambda ctx: create_tenant(ctx, "newco", plan="sovereign"),
        InvalidInput,
        "required for plan sovereign",
    ),
    (
        "tenant exists differently",
        lambda ctx: create_tenant(ctx, "acme", plan="team"),
        ConflictError,
        "already exists",
    ),
]


@pytest.fixture
async def world(make_ctx: ContextFactory, pb: PocketBase, templates_dir: Path) -> None:
    """Tenants acme (one stack 'web' of another template), full (at its quota), frozen (suspended);
    an extra template that needs plan team."""
    team_only = templates_dir / "probe-team"
    team_only.mkdir()
    meta = yaml.safe_load((templates_dir / "telegram-bot" / "template.yaml").read_text())
    meta.update(name="probe-team", plan_minimum="team")
    meta["resources"].pop("starter")
    (team_only / "template.yaml").write_text(yaml.safe_dump(meta))
    (team_only / "compose.yml.j2").write_text((templates_dir / "telegram-bot" / "compose.yml.j2").read_text())
    ctx = make_ctx()
    acme, _ = await create_tenant(ctx, "acme", plan="starter", name="Acme")
    full, _ = await create_tenant(ctx, "full", plan="starter", name="Full")
    frozen, _ = await create_tenant(ctx, "frozen", plan="starter", name="Frozen")
    await pb.update_record("tenants", frozen.id, {"status": "suspended"})
    stacks = [(acme.id, "web", "probe"), (full.id, "one", "telegram-bot"), (full.id, "two", "telegram-bot")]
    for tenant_id, name, template in stacks:
        await pb.create_record(
            "stacks",
            {
                "tenant": tenant_id,
                "name": name,
                "template": template,
                "desired_state": "running",
                "status": "running",
            },
        )


async def snapshot(pb: PocketBase) -> dict[str, list[dict[str, Any]]]:
    names = ("tenants", "stacks", "stack_secrets", "operation_locks", "audit_events")
    return {name: await pb.list_records(name, sort="id") for name in names}


@pytest.mark.parametrize(("call", "error", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_refused_without_side_effects(
    world: None,
    make_ctx: ContextFactory,
    pb: PocketBase,
    coolify_fake: FakeCoolify,
    call: Call,
    error: type[CfaError],
    message: str,
) -> None:
    """The request is refused with a clear message and advice; only a 'refused' audit event is written."""
    before = await snapshot(pb)
    with pytest.raises(error) as caught:
        await call(make_ctx())
    after = await snapshot(pb)

    assert message in caught.value.message
    assert caught.value.one_line().strip()
    assert coolify_fake.write_calls == []
    for collection in ("tenants", "stacks", "stack_secrets", "operation_locks"):
        assert after[collection] == before[collection], collection
    known = {e["id"] for e in before["audit_events"]}
    new_events = [e for e in after["audit_events"] if e["id"] not in known]
    assert [e["outcome"] for e in new_events] == ["refused"]
    assert new_events[0]["details"]["reason"] == caught.value.message[:500]


def test_there_are_at_least_thirty_cases() -> None:
    """The issue asks for at least 30 hostile or invalid inputs."""
    assert len(CASES) >= 30
