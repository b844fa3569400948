"""Which tenant and stack a container belongs to.

Two independent sources: the ``cf.*`` labels our templates put on every service container, and
Coolify's ``com.docker.compose.project`` label, which equals the stack record's
``coolify_service_uuid``. The record wins when both exist (labels are only as right as the template
that wrote them). A container with neither is *unattributed*: reported as such, never dropped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal

from monitor.directory import StackDirectory
from monitor.values import Value

LABEL_MANAGED = "cf.managed"
LABEL_TENANT = "cf.tenant"
LABEL_STACK = "cf.stack"
LABEL_TEMPLATE = "cf.template"
LABEL_PLAN = "cf.plan"
LABEL_COMPOSE_PROJECT = "com.docker.compose.project"

_SAFE = re.compile(r"[^A-Za-z0-9._:/@+-]")
_MAX_LABEL = 64


def clean(value: str | None) -> str | None:
    """A label value fit for a message: printable, no markup characters, bounded length."""
    if value is None:
        return None
    value = _SAFE.sub("_", value.strip())[:_MAX_LABEL]
    return value or None


class Attribution(Value):
    tenant: str | None = None
    stack: str | None = None
    template: str | None = None
    plan: str | None = None
    service_uuid: str | None = None
    source: Literal["record", "labels", "none"] = "none"

    @property
    def attributed(self) -> bool:
        return self.tenant is not None

    def describe(self) -> str:
        """``tenant acme / stack bot``, or ``unattributed`` for a container we cannot place."""
        if self.tenant is None:
            return "unattributed"
        return f"tenant {self.tenant} / stack {self.stack or '?'}"


HOST = Attribution()


def attribute(labels: Mapping[str, str], directory: StackDirectory) -> Attribution:
    """Attribute a container (or volume) from its labels, consulting the stack records by service uuid."""
    service_uuid = clean(labels.get(LABEL_COMPOSE_PROJECT))
    record = directory.by_service_uuid(service_uuid) if service_uuid else None
    if record is not None:
        return Attribution(
            tenant=record.tenant,
            stack=record.stack,
            template=record.template or clean(labels.get(LABEL_TEMPLATE)),
            plan=record.plan or clean(labels.get(LABEL_PLAN)),
            service_uuid=service_uuid,
            source="record",
        )
    tenant, stack = clean(labels.get(LABEL_TENANT)), clean(labels.get(LABEL_STACK))
    if tenant is not None:
        return Attribution(
            tenant=tenant,
            stack=stack,
            template=clean(labels.get(LABEL_TEMPLATE)),
            plan=clean(labels.get(LABEL_PLAN)),
            service_uuid=service_uuid,
            source="labels",
        )
    return Attribution(service_uuid=service_uuid, source="none")
