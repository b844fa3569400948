"""The PocketBase ``incidents`` collection (0.40 import format), mirrored from the monitor's SQLite.

``cfa pb migrate`` imports it with the platform's other collections. Superuser-only (rules null).
One record per incident id; the ``fingerprint`` groups the incidents of one subject over time.
"""

from __future__ import annotations

from typing import Any

from monitor.findings import Kind, Severity


def _text(name: str, max_length: int, *, required: bool = False) -> dict[str, Any]:
    return {
        "name": name,
        "type": "text",
        "required": required,
        "max": max_length,
        "pattern": "",
        "hidden": False,
    }


def _select(name: str, values: list[str]) -> dict[str, Any]:
    return {"name": name, "type": "select", "required": True, "maxSelect": 1, "values": values}


def _date(name: str) -> dict[str, Any]:
    return {"name": name, "type": "date"}


def _number(name: str) -> dict[str, Any]:
    return {"name": name, "type": "number", "onlyInt": True, "min": 0}


INCIDENTS_COLLECTION: dict[str, Any] = {
    "name": "incidents",
    "type": "base",
    "listRule": None,
    "viewRule": None,
    "createRule": None,
    "updateRule": None,
    "deleteRule": None,
    "fields": [
        _text("incident_id", 32, required=True),
        _text("fingerprint", 400, required=True),
        _text("host", 255, required=True),
        _select("kind", [kind.value for kind in Kind]),
        _select("severity", [severity.value for severity in Severity]),
        _select("state", ["firing", "resolved"]),
        _text("tenant", 64),
        _text("stack", 64),
        _text("template", 64),
        _text("plan", 64),
        _text("subject", 300, required=True),
        _text("container_id", 80),
        _text("detail", 4000),
        {"name": "evidence", "type": "json", "maxSize": 0, "hidden": False},
        _number("occurrences"),
        _number("notifications"),
        _date("opened_at"),
        _date("last_seen_at"),
        _date("resolved_at"),
        _text("resolve_reason", 500),
        _text("suppressed", 500),
        _text("runbook", 500),
        {"name": "created", "type": "autodate", "onCreate": True, "onUpdate": False},
        {"name": "updated", "type": "autodate", "onCreate": True, "onUpdate": True},
    ],
    "indexes": [
        "CREATE UNIQUE INDEX idx_incidents_incident_id ON incidents (incident_id)",
        "CREATE INDEX idx_incidents_state ON incidents (state)",
        "CREATE INDEX idx_incidents_tenant ON incidents (tenant, stack)",
    ],
}
