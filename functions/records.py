"""Typed views of the PocketBase records the operations work with."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str
    created: str = ""
    updated: str = ""


class Tenant(_Record):
    slug: str
    name: str = ""
    plan: str
    status: str = ""
    max_stacks: int | None = None
    coolify_project_uuid: str = ""
    project_create_pending_at: str = ""
    last_error: str = ""
    requested_stacks: list[Any] | None = None
    delete_volumes: bool = False


class Stack(_Record):
    tenant: str
    name: str
    template: str
    params: dict[str, Any] | None = Field(default=None)
    desired_state: str
    status: str
    coolify_service_uuid: str = ""
    server_uuid: str = ""
    fqdn: str = ""
    coolify_status: str = ""
    compose_sha256: str = ""
    env_sha256: str = ""
    service_create_pending_at: str = ""
    delete_requested_at: str = ""
    last_error: str = ""
    transition_at: str = ""
    delete_volumes: bool = False
    kept_volumes: list[str] | None = None
    suspended_with_tenant: bool = False
    plan: str = ""
    failed_digest: str = ""
    rotation_pending: dict[str, Any] | None = None
    reserved: dict[str, Any] | None = None
    last_backup_at: str = ""
    last_backup_snapshot: str = ""
    last_backup_error: str = ""

    @property
    def active(self) -> bool:
        """Counts against the plan: everything not deleted (or being deleted)."""
        return self.desired_state != "deleted"
