"""The schema migration against a real PocketBase: create, idempotent, additive on foreign collections."""

from __future__ import annotations

import pytest

from functions.operations.migrate import migrate_all
from shared.errors import ConflictError
from shared.pocketbase.client import PocketBase
from shared.pocketbase.embedded import PocketBaseServer
from shared.pocketbase.schema import INCIDENT_KINDS, migrate

pytestmark = pytest.mark.anyio


async def test_creates_all_collections_then_changes_nothing(pocketbase_empty: PocketBaseServer) -> None:
    """The first run creates every collection; a second run reports no change."""
    async with PocketBase(pocketbase_empty.url, pocketbase_empty.email, pocketbase_empty.password) as pb:
        first = await migrate(pb)
        second = await migrate(pb)
        stacks = await pb.get_collection("stacks")
    assert sorted(first.created) == [
        "audit_events",
        "login_failures",
        "operation_locks",
        "operator_sessions",
        "operators",
        "realtime_probes",
        "secret_inputs",
        "stack_secrets",
        "stacks",
        "tenants",
        "webhook_receipts",
    ]
    assert not second.changed
    assert stacks is not None
    assert "idx_stacks_tenant_name" in " ".join(stacks["indexes"])


async def test_extends_an_existing_tenants_collection_without_dropping_anything(
    pocketbase_empty: PocketBaseServer,
) -> None:
    """CloudFreedom's own tenants collection keeps its fields, rules and data; ours are added."""
    async with PocketBase(pocketbase_empty.url, pocketbase_empty.email, pocketbase_empty.password) as pb:
        response = await pb.request(
            "POST",
            "/api/collections",
            json={
                "name": "tenants",
                "type": "base",
                "listRule": "@request.auth.id != ''",
                "fields": [
                    {"name": "slug", "type": "text", "required": True},
                    {"name": "billing_id", "type": "text"},
                    {"name": "seats", "type": "number"},
                ],
                "indexes": ["CREATE INDEX idx_billing ON tenants (billing_id)"],
            },
        )
        assert response.status_code == 200, response.text
        existing = await pb.create_record("tenants", {"slug": "acme", "billing_id": "B-1", "seats": 3})

        report = await migrate(pb)
        after = await pb.get_collection("tenants")
        record = await pb.get_record("tenants", existing["id"])
        stacks = await pb.get_collection("stacks")

    assert after is not None and stacks is not None
    names = [f["name"] for f in after["fields"]]
    assert {"billing_id", "seats", "name", "plan", "coolify_project_uuid"} <= set(names)
    assert after["listRule"] == "@request.auth.id != ''"
    assert any("idx_billing" in sql for sql in after["indexes"])
    assert (record["billing_id"], record["seats"]) == ("B-1", 3)
    assert report.kept_foreign_fields["tenants"] == ["billing_id", "seats"]
    relation = next(f for f in stacks["fields"] if f["name"] == "tenant")
    assert relation["collectionId"] == after["id"]


async def test_refuses_an_incompatible_field_type(pocketbase_empty: PocketBaseServer) -> None:
    """A foreign field with our name but an incompatible type stops the migration with advice."""
    async with PocketBase(pocketbase_empty.url, pocketbase_empty.email, pocketbase_empty.password) as pb:
        await pb.request(
            "POST",
            "/api/collections",
            json={"name": "tenants", "type": "base", "fields": [{"name": "slug", "type": "number"}]},
        )
        with pytest.raises(ConflictError, match="slug"):
            await migrate(pb)
        still = await pb.get_collection("stacks")
    assert still is None


async def test_audit_events_refuse_everything_but_superuser_creates(pb: PocketBase) -> None:
    """audit_events has null rules: guests can neither list, update nor delete."""
    collection = await pb.get_collection("audit_events")
    assert collection is not None
    rules = {k: collection[k] for k in ("listRule", "viewRule", "createRule", "updateRule", "deleteRule")}
    assert set(rules.values()) == {None}


async def test_an_older_schema_gets_new_fields_and_select_values_with_data_kept(pb: PocketBase) -> None:
    """A PocketBase migrated by an older release (no suspending/resuming/rotating status, no
    transition_at, no rotation_pending) is upgraded in place: values are appended, existing values and
    records stay."""
    stacks = await pb.get_collection("stacks")
    assert stacks is not None
    status = next(f for f in stacks["fields"] if f["name"] == "status")
    old_fields = [
        {**f, "values": [v for v in f["values"] if v not in ("suspending", "resuming", "rotating")]}
        if f["name"] == "status"
        else f
        for f in stacks["fields"]
        if f["name"] not in ("transition_at", "rotation_pending")
    ]
    response = await pb.request("PATCH", "/api/collections/stacks", json={"fields": old_fields})
    assert response.status_code == 200, response.text
    tenant = await pb.create_record("tenants", {"slug": "acme", "name": "Acme", "plan": "starter"})
    record = await pb.create_record(
        "stacks",
        {
            "tenant": tenant["id"],
            "name": "bot",
            "template": "t",
            "desired_state": "running",
            "status": "running",
        },
    )

    report = await migrate(pb)
    after = await pb.get_collection("stacks")

    assert report.values_added == {"stacks": {"status": ["suspending", "resuming", "rotating"]}}
    assert report.fields_added["stacks"] == ["transition_at", "rotation_pending"]
    assert after is not None
    new_status = next(f for f in after["fields"] if f["name"] == "status")
    assert new_status["values"] == status["values"]
    assert (await pb.get_record("stacks", record["id"]))["status"] == "running"
    updated = await pb.update_record("stacks", record["id"], {"status": "suspending"})
    assert updated["status"] == "suspending"
    assert not (await migrate(pb)).changed


async def test_migrate_all_adds_the_monitor_incidents_collection(pocketbase_empty: PocketBaseServer) -> None:
    """`cfa pb migrate` creates the incidents collection from shared.pocketbase.schema, superuser-only,
    with the monitor's kinds; a second run changes nothing."""
    async with PocketBase(pocketbase_empty.url, pocketbase_empty.email, pocketbase_empty.password) as pb:
        first = await migrate_all(pb)
        second = await migrate_all(pb)
        incidents = await pb.get_collection("incidents")
    assert "incidents" in first.created and not second.changed
    assert incidents is not None and incidents["listRule"] is None
    kind = next(f for f in incidents["fields"] if f["name"] == "kind")
    assert kind["values"] == INCIDENT_KINDS
    assert "idx_incidents_incident_id" in " ".join(incidents["indexes"])


async def test_operators_can_sign_in_and_keep_their_auth_options_when_a_field_is_added(
    pb: PocketBase,
) -> None:
    """The operators auth collection lets an operator sign in; a later migration that adds a field
    keeps its sign-in rule and options (an import resets what it leaves out)."""
    operators = await pb.get_collection("operators")
    assert operators is not None and operators["type"] == "auth"
    fields = [f for f in operators["fields"] if f["name"] != "name"]
    response = await pb.request("PATCH", "/api/collections/operators", json={"fields": fields})
    assert response.status_code == 200, response.text
    await pb.create_record(
        "operators",
        {"email": "op@example.com", "password": "op-password-1", "passwordConfirm": "op-password-1"},
    )

    report = await migrate(pb)
    after = await pb.get_collection("operators")
    login = await pb._http.post(
        "/api/collections/operators/auth-with-password",
        json={"identity": "op@example.com", "password": "op-password-1"},
    )

    assert report.fields_added == {"operators": ["name"]}
    assert after is not None
    assert after["authRule"] == "" and after["passwordAuth"]["enabled"] is True
    assert after["authAlert"]["enabled"] is False
    assert login.status_code == 200, login.text


async def test_refuses_a_base_collection_where_an_auth_collection_is_needed(
    pocketbase_empty: PocketBaseServer,
) -> None:
    """An existing base collection called operators is not silently reused: the migration says what
    to rename."""
    async with PocketBase(pocketbase_empty.url, pocketbase_empty.email, pocketbase_empty.password) as pb:
        await pb.request("POST", "/api/collections", json={"name": "operators", "type": "base", "fields": []})
        with pytest.raises(ConflictError, match="operators is a base collection"):
            await migrate(pb)
