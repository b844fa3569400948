"""The PocketBase collections the platform owns, and an idempotent, non-destructive migration.

``migrate`` creates what is missing and adds missing fields, indexes and select values to collections
that already exist (CloudFreedom may already have a ``tenants`` collection): it never drops a field, an
index, a select value or a collection, and never changes an existing field's type. Re-running it
changes nothing.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

from shared.errors import ConflictError
from shared.pocketbase.client import PocketBase, Record

TENANT_STATUSES = ["active", "suspended", "deleted"]
STACK_DESIRED_STATES = ["running", "suspended", "deleted"]
STACK_STATUSES = [
    "pending",
    "provisioning",
    "running",
    "degraded",
    "suspended",
    "failed",
    "deleting",
    "deleted",
    "suspending",
    "resuming",
    "rotating",
]
AUDIT_OUTCOMES = ["ok", "refused", "failed"]
# The monitor's alert kinds, severities and incident states (monitor.findings must agree; a test checks).
INCIDENT_KINDS = [
    "container-unhealthy",
    "oom-killed",
    "container-crashed",
    "crash-loop",
    "disk-pressure",
    "volume-quota",
    "monitor-gap",
]
INCIDENT_SEVERITIES = ["warning", "critical"]
INCIDENT_STATES = ["firing", "resolved"]

SLUG_PATTERN = "^[a-z][a-z0-9-]{1,28}[a-z0-9]$"


def collection_id(name: str, kind: str = "base") -> str:
    """PocketBase's own default id for a collection: stable, so relations can be declared up front."""
    return f"pbc_{zlib.crc32(f'{kind}{name}'.encode())}"


def _text(
    name: str, *, required: bool = False, max: int = 0, pattern: str = "", hidden: bool = False
) -> Record:
    return {
        "name": name,
        "type": "text",
        "required": required,
        "max": max,
        "pattern": pattern,
        "hidden": hidden,
    }


def _select(name: str, values: list[str], *, required: bool = False) -> Record:
    return {"name": name, "type": "select", "required": required, "maxSelect": 1, "values": values}


def _json(name: str, *, hidden: bool = False) -> Record:
    return {"name": name, "type": "json", "maxSize": 0, "hidden": hidden}


def _number(name: str, *, only_int: bool = True, min: float | None = None) -> Record:
    return {"name": name, "type": "number", "onlyInt": only_int, "min": min}


def _date(name: str) -> Record:
    return {"name": name, "type": "date"}


def _bool(name: str) -> Record:
    return {"name": name, "type": "bool"}


def _autodates() -> list[Record]:
    return [
        {"name": "created", "type": "autodate", "onCreate": True, "onUpdate": False},
        {"name": "updated", "type": "autodate", "onCreate": True, "onUpdate": True},
    ]


def _superuser_only(name: str) -> Record:
    return {
        "name": name,
        "type": "base",
        "listRule": None,
        "viewRule": None,
        "createRule": None,
        "updateRule": None,
        "deleteRule": None,
    }


def tenants_collection() -> Record:
    return {
        **_superuser_only("tenants"),
        "fields": [
            _text("slug", required=True, max=30, pattern=SLUG_PATTERN),
            _text("name", required=True, max=200),
            _text("plan", required=True, max=40),
            _select("status", TENANT_STATUSES),
            _number("max_stacks", min=0),
            _text("coolify_project_uuid", max=64),
            _date("project_create_pending_at"),
            _text("last_error", max=2000),
            # Stacks to create for this tenant: [{"template", "name", "params"}] (secret values are
            # moved to stack_secrets by the event functions); delete_volumes: for status=deleted.
            _json("requested_stacks"),
            _bool("delete_volumes"),
            *_autodates(),
        ],
        "indexes": ["CREATE UNIQUE INDEX idx_tenants_slug ON tenants (slug)"],
    }


def stacks_collection(tenants_id: str) -> Record:
    return {
        **_superuser_only("stacks"),
        "fields": [
            {
                "name": "tenant",
                "type": "relation",
                "required": True,
                "collectionId": tenants_id,
                "cascadeDelete": False,
                "minSelect": 0,
                "maxSelect": 1,
            },
            _text("name", required=True, max=30, pattern=SLUG_PATTERN),
            _text("template", required=True, max=60),
            _json("params"),
            _select("desired_state", STACK_DESIRED_STATES, required=True),
            _select("status", STACK_STATUSES, required=True),
            _text("coolify_service_uuid", max=64),
            _text("server_uuid", max=64),
            _text("fqdn", max=300),
            _text("coolify_status", max=80),
            _text("compose_sha256", max=64),
            _text("env_sha256", max=64),
            _date("service_create_pending_at"),
            _date("delete_requested_at"),
            _text("last_error", max=2000),
            # When the transitional status (provisioning, resuming, suspending, deleting, rotating) was
            # recorded: the start of the wait that only an observation of Coolify ends.
            _date("transition_at"),
            _bool("delete_volumes"),
            _json("kept_volumes"),
            # Suspended because its tenant was: resumed with the tenant (a stack suspended on its own
            # stays suspended).
            _bool("suspended_with_tenant"),
            # The plan its compose was last rendered under (a tenant's plan change redeploys it).
            _text("plan", max=40),
            # The configuration at which the event functions gave up on it: not retried by events
            # until its configuration changes or an operator acts.
            _text("failed_digest", max=64),
            # A secret rotation begun and not yet pushed to Coolify: {"secrets": {env: digest of the
            # value it replaces}, "at", "operation_id"} (functions/operations/rotate.py finishes it).
            _json("rotation_pending"),
            # What the stack claims of its server's budget (cfa capacity): {cpus, memory_bytes,
            # volume_bytes, plan}, recorded with its server_uuid before any Coolify write; cleared when
            # it is observed deleted.
            _json("reserved"),
            # Backups (functions/operations/backups): what the last run observed; the admin page and
            # the missed-backup check read these.
            _date("last_backup_at"),
            _text("last_backup_snapshot", max=64),
            _text("last_backup_error", max=2000),
            *_autodates(),
        ],
        "indexes": ["CREATE UNIQUE INDEX idx_stacks_tenant_name ON stacks (tenant, name)"],
    }


def stack_secrets_collection(stacks_id: str) -> Record:
    """Secret values per stack. Superuser-only and hidden: never in ``stacks.params``, never logged."""
    return {
        **_superuser_only("stack_secrets"),
        "fields": [
            {
                "name": "stack",
                "type": "relation",
                "required": True,
                "collectionId": stacks_id,
                "cascadeDelete": True,
                "minSelect": 0,
                "maxSelect": 1,
            },
            _json("values", hidden=True),
            *_autodates(),
        ],
        "indexes": ["CREATE UNIQUE INDEX idx_stack_secrets_stack ON stack_secrets (stack)"],
    }


def audit_events_collection() -> Record:
    """Append-only trail: only superusers may create, and nothing may update or delete (rules null)."""
    return {
        **_superuser_only("audit_events"),
        "fields": [
            {"name": "time", "type": "autodate", "onCreate": True, "onUpdate": False},
            _number("seq", min=0),
            _text("actor", required=True, max=200),
            _text("action", required=True, max=100),
            _text("tenant", max=30),
            _text("stack", max=30),
            _select("outcome", AUDIT_OUTCOMES, required=True),
            _text("operation_id", max=40),
            _json("details"),
        ],
        "indexes": [
            "CREATE INDEX idx_audit_events_tenant ON audit_events (tenant)",
            "CREATE INDEX idx_audit_events_time ON audit_events (time)",
        ],
    }


def operation_locks_collection() -> Record:
    """One row per held lock; the unique ``key`` index makes taking a lock atomic across processes."""
    return {
        **_superuser_only("operation_locks"),
        "fields": [
            _text("key", required=True, max=100),
            _text("owner", required=True, max=100),
            _date("expires_at"),
            # Who holds it, so that a lock whose holder is provably gone can be taken over.
            _text("host", max=255),
            _number("pid", min=0),
            _number("pid_started", min=0),
            _date("heartbeat_at"),
            _text("operation", max=200),
            *_autodates(),
        ],
        "indexes": ["CREATE UNIQUE INDEX idx_operation_locks_key ON operation_locks (key)"],
    }


def incidents_collection() -> Record:
    """The monitor's incidents, mirrored from its SQLite (the source of truth): one record per incident
    id; the ``fingerprint`` groups the incidents of one subject over time. Superuser-only."""
    return {
        **_superuser_only("incidents"),
        "fields": [
            _text("incident_id", required=True, max=32),
            _text("fingerprint", required=True, max=400),
            _text("host", required=True, max=255),
            _select("kind", INCIDENT_KINDS, required=True),
            _select("severity", INCIDENT_SEVERITIES, required=True),
            _select("state", INCIDENT_STATES, required=True),
            _text("tenant", max=64),
            _text("stack", max=64),
            _text("template", max=64),
            _text("plan", max=64),
            _text("subject", required=True, max=300),
            _text("container_id", max=80),
            _text("detail", max=4000),
            _json("evidence"),
            _number("occurrences", min=0),
            _number("notifications", min=0),
            _date("opened_at"),
            _date("last_seen_at"),
            _date("resolved_at"),
            _text("resolve_reason", max=500),
            _text("suppressed", max=500),
            _text("runbook", max=500),
            *_autodates(),
        ],
        "indexes": [
            "CREATE UNIQUE INDEX idx_incidents_incident_id ON incidents (incident_id)",
            "CREATE INDEX idx_incidents_state ON incidents (state)",
            "CREATE INDEX idx_incidents_tenant ON incidents (tenant, stack)",
        ],
    }


def secret_inputs_collection() -> Record:
    """A write-only inbox for secret parameters: whoever may create (``createRule``) can never read back
    (list/view superuser-only). The event functions move the values to ``stack_secrets`` and delete the
    record at once. ``values`` is not hidden: PocketBase drops a hidden field a non-superuser writes."""
    return {
        **_superuser_only("secret_inputs"),
        "createRule": '@request.auth.id != ""',
        "fields": [
            _text("tenant", required=True, max=30),
            _text("stack", required=True, max=30),
            _json("values"),
            *_autodates(),
        ],
    }


def realtime_probes_collection() -> Record:
    """Records the event functions write to prove their realtime subscription delivers."""
    return {
        **_superuser_only("realtime_probes"),
        "fields": [_text("owner", required=True, max=100), *_autodates()],
    }


def webhook_receipts_collection() -> Record:
    """One record per Coolify webhook body (per 10-minute bucket): a replay finds its key taken."""
    return {
        **_superuser_only("webhook_receipts"),
        "fields": [_text("key", required=True, max=100), _text("event", max=100), *_autodates()],
        "indexes": ["CREATE UNIQUE INDEX idx_webhook_receipts_key ON webhook_receipts (key)"],
    }


def operators_collection() -> Record:
    """The people who may sign in to the admin pages (besides PocketBase superusers): an auth
    collection that only superusers manage; every operator may sign in (``authRule`` empty)."""
    return {
        **_superuser_only("operators"),
        "id": collection_id("operators", "auth"),
        "type": "auth",
        "authRule": "",
        "passwordAuth": {"enabled": True, "identityFields": ["email"]},
        # No mail server is assumed: PocketBase would try to mail a "new location" alert per sign-in.
        "authAlert": {"enabled": False},
        "fields": [_text("name", max=100), *_autodates()],
    }


def operator_sessions_collection() -> Record:
    """One record per signed-in admin session; the cookie carries the token, PocketBase only its hash,
    so a leaked database holds no usable session. Deleting the record signs the session out."""
    return {
        **_superuser_only("operator_sessions"),
        "fields": [
            _text("token_hash", required=True, max=64),
            _text("actor", required=True, max=200),
            _text("email", required=True, max=200),
            _text("account", required=True, max=40),
            _text("csrf", required=True, max=64, hidden=True),
            _text("address", max=100),
            _date("expires_at"),
            *_autodates(),
        ],
        "indexes": ["CREATE UNIQUE INDEX idx_operator_sessions_token ON operator_sessions (token_hash)"],
    }


def login_failures_collection() -> Record:
    """One record per failed admin sign-in (the account tried and the address), counted for throttling."""
    return {
        **_superuser_only("login_failures"),
        "fields": [_text("email", max=200), _text("address", max=100), *_autodates()],
        "indexes": [
            "CREATE INDEX idx_login_failures_email ON login_failures (email, created)",
            "CREATE INDEX idx_login_failures_address ON login_failures (address, created)",
        ],
    }


@dataclass
class MigrationReport:
    created: list[str] = field(default_factory=list)
    fields_added: dict[str, list[str]] = field(default_factory=dict)
    indexes_added: dict[str, list[str]] = field(default_factory=dict)
    values_added: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    kept_foreign_fields: dict[str, list[str]] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.fields_added or self.indexes_added or self.values_added)

    def as_dict(self) -> dict[str, Any]:
        return {
            "changed": self.changed,
            "created": self.created,
            "fields_added": self.fields_added,
            "indexes_added": self.indexes_added,
            "values_added": self.values_added,
            "kept_foreign_fields": self.kept_foreign_fields,
        }


def _index_name(sql: str) -> str:
    words = sql.replace("(", " ").split()
    upper = [w.upper() for w in words]
    position = upper.index("INDEX") + 1
    if upper[position : position + 3] == ["IF", "NOT", "EXISTS"]:
        position += 3
    return words[position]


def _merge(existing: Record, wanted: Record, report: MigrationReport) -> Record | None:
    """``existing`` with ``wanted``'s missing fields and indexes appended, or None if nothing is missing."""
    name = str(wanted["name"])
    if existing.get("type") != wanted.get("type", "base"):
        raise ConflictError(
            f"collection {name} is a {existing.get('type')} collection, the platform needs a "
            f"{wanted.get('type', 'base')} one",
            advice=f"rename the existing {name} collection in the PocketBase dashboard, then re-run migrate",
        )
    have = {str(f["name"]): f for f in existing.get("fields", [])}
    missing = [f for f in wanted["fields"] if f["name"] not in have]
    for wanted_field in wanted["fields"]:
        current = have.get(str(wanted_field["name"]))
        if current is not None and current["type"] != wanted_field["type"]:
            compatible = {wanted_field["type"], current["type"]} <= {"text", "select"}
            if not compatible:
                raise ConflictError(
                    f"collection {name}: field {wanted_field['name']!r} is a {current['type']}, "
                    f"the platform needs a {wanted_field['type']}",
                    advice="rename or convert that field in the PocketBase dashboard, then re-run migrate",
                )
    ours = {str(f["name"]) for f in wanted["fields"]}
    foreign = sorted(n for n, f in have.items() if n not in ours and not f.get("system"))
    if foreign:
        report.kept_foreign_fields[name] = foreign
    have_indexes = {_index_name(sql) for sql in existing.get("indexes", [])}
    missing_indexes = [sql for sql in wanted.get("indexes", []) if _index_name(sql) not in have_indexes]
    fields, values_added = _with_select_values(existing["fields"], wanted["fields"])
    if not missing and not missing_indexes and not values_added:
        return None
    if missing:
        report.fields_added[name] = [str(f["name"]) for f in missing]
    if missing_indexes:
        report.indexes_added[name] = [_index_name(sql) for sql in missing_indexes]
    if values_added:
        report.values_added[name] = values_added
    # Every other property (rules, auth options) as it is: an import resets what it leaves out.
    return {
        **existing,
        "fields": [*fields, *missing],
        "indexes": [*existing.get("indexes", []), *missing_indexes],
    }


def _with_select_values(
    have: list[Record], wanted: list[Record]
) -> tuple[list[Record], dict[str, list[str]]]:
    """``have`` with the select values ``wanted`` lists appended where missing (existing ones kept)."""
    wanted_by_name = {str(f["name"]): f for f in wanted}
    fields, added = [], {}
    for current in have:
        target = wanted_by_name.get(str(current["name"]))
        if current.get("type") == "select" and target is not None and target.get("type") == "select":
            values = list(current.get("values") or [])
            new = [v for v in target["values"] if v not in values]
            if new:
                current = {**current, "values": [*values, *new]}
                added[str(current["name"])] = new
        fields.append(current)
    return fields, added


async def migrate(pb: PocketBase, extra: list[Record] | None = None) -> MigrationReport:
    """Bring the platform's collections up to date; see the module docstring for the guarantees."""
    report = MigrationReport()
    tenants = await pb.get_collection("tenants")
    tenants_id = str(tenants["id"]) if tenants else collection_id("tenants")
    stacks = await pb.get_collection("stacks")
    stacks_id = str(stacks["id"]) if stacks else collection_id("stacks")
    wanted = [
        tenants_collection(),
        stacks_collection(tenants_id),
        stack_secrets_collection(stacks_id),
        audit_events_collection(),
        operation_locks_collection(),
        secret_inputs_collection(),
        realtime_probes_collection(),
        webhook_receipts_collection(),
        operators_collection(),
        operator_sessions_collection(),
        login_failures_collection(),
        *(extra or []),
    ]
    payload: list[Record] = []
    for collection in wanted:
        existing = tenants if collection["name"] == "tenants" else None
        if collection["name"] == "stacks":
            existing = stacks
        elif existing is None and collection["name"] != "tenants":
            existing = await pb.get_collection(str(collection["name"]))
        if existing is None:
            payload.append({"id": collection_id(str(collection["name"])), **collection})
            report.created.append(str(collection["name"]))
            continue
        merged = _merge(existing, collection, report)
        if merged is not None:
            payload.append(merged)
    if payload:
        await pb.import_collections(payload)
    return report
