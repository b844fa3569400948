"""Typed shapes of the Coolify requests we send and the responses we read.

Request models forbid unknown fields: Coolify answers 422 "This field is not allowed." for any key
outside its allow-list, so a typo must fail here, before a request is sent. Response models ignore
fields we do not use.
"""

from __future__ import annotations

import base64
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

ENVIRONMENT = "production"  # every new Coolify project gets exactly this environment


class _Response(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Server(_Response):
    uuid: str
    name: str = ""
    ip: str = ""
    is_reachable: bool = False
    is_usable: bool = False
    is_build_server: bool = False
    settings: dict[str, Any] = Field(default_factory=dict)

    @property
    def can_host(self) -> bool:
        build = bool(self.settings.get("is_build_server", False)) or self.is_build_server
        return self.is_usable and self.is_reachable and not build


class Destination(_Response):
    uuid: str
    name: str = ""
    network: str = ""


class ProjectSummary(_Response):
    uuid: str
    name: str
    description: str | None = None


class EnvironmentSummary(_Response):
    name: str
    uuid: str | None = None


class Project(ProjectSummary):
    environments: list[EnvironmentSummary] = Field(default_factory=list)


class Environment(_Response):
    """An environment with its resources; a project can be deleted only when all lists are empty."""

    name: str
    uuid: str | None = None
    applications: list[dict[str, Any]] = Field(default_factory=list)
    services: list[dict[str, Any]] = Field(default_factory=list)
    postgresqls: list[dict[str, Any]] = Field(default_factory=list)
    redis: list[dict[str, Any]] = Field(default_factory=list)
    mongodbs: list[dict[str, Any]] = Field(default_factory=list)
    mysqls: list[dict[str, Any]] = Field(default_factory=list)
    mariadbs: list[dict[str, Any]] = Field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        resources = (self.applications, self.services, self.postgresqls, self.redis)
        more = (self.mongodbs, self.mysqls, self.mariadbs)
        return not any(resources) and not any(more)


class ServiceStatus(_Response):
    """Coolify's ``state:health[:excluded]`` status string, parsed."""

    raw: str
    state: str
    health: str

    @classmethod
    def parse(cls, raw: str | None) -> ServiceStatus:
        parts = (raw or "unknown").split(":")
        return cls(raw=raw or "unknown", state=parts[0], health=parts[1] if len(parts) > 1 else "unknown")

    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def healthy(self) -> bool:
        return self.state == "running" and self.health == "healthy"

    @property
    def stopped(self) -> bool:
        return self.state in ("exited", "stopped")


class ServiceApplication(_Response):
    uuid: str = ""
    name: str
    fqdn: str | None = None
    status: str | None = None
    image: str | None = None


class Service(_Response):
    uuid: str
    name: str
    description: str | None = None
    status: str | None = None
    environment_id: int | None = None
    server_id: int | None = None
    applications: list[ServiceApplication] = Field(default_factory=list)
    databases: list[dict[str, Any]] = Field(default_factory=list)

    @property
    def parsed_status(self) -> ServiceStatus:
        return ServiceStatus.parse(self.status)


class ServiceCreated(_Response):
    uuid: str
    domains: list[str] = Field(default_factory=list)


class ServiceUrl(_Request):
    """A public URL for one compose service; the port is the *container* port Traefik forwards to."""

    name: str
    url: str


def encode_compose(compose_yaml: str) -> str:
    """Strict base64 as Coolify checks it: standard alphabet, padded, no line breaks."""
    return base64.b64encode(compose_yaml.encode("utf-8")).decode("ascii")


class ProjectCreate(_Request):
    name: str = Field(min_length=3, max_length=255)
    description: str | None = Field(default=None, max_length=255)


class ServiceCreate(_Request):
    """Body of ``POST /services`` for a raw compose stack (``connect_to_docker_network`` is refused here)."""

    name: str = Field(max_length=255)
    description: str | None = None
    project_uuid: str
    environment_name: str = ENVIRONMENT
    server_uuid: str
    destination_uuid: str | None = None
    docker_compose_raw: str
    urls: list[ServiceUrl] | None = None
    instant_deploy: bool = False

    @classmethod
    def from_compose(cls, compose_yaml: str, **fields: Any) -> ServiceCreate:
        return cls(docker_compose_raw=encode_compose(compose_yaml), **fields)


class ServiceUpdate(_Request):
    """Body of ``PATCH /services/{uuid}``: only the keys Coolify allows."""

    name: str | None = None
    description: str | None = None
    docker_compose_raw: str | None = None
    urls: list[ServiceUrl] | None = None
    connect_to_docker_network: bool | None = None
    instant_deploy: bool | None = None


class EnvItem(_Request):
    """One variable for ``PATCH /services/{uuid}/envs/bulk`` (upsert by key)."""

    key: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.]*$", max_length=255)
    value: str
    is_literal: bool = True
    is_multiline: bool = False
    is_shown_once: bool = False


class WebhookNotificationsUpdate(_Request):
    """Body of ``PATCH /notifications/webhook`` (the team's webhook channel; §10): only known keys."""

    webhook_enabled: bool | None = None
    webhook_url: str | None = None
    scheduled_task_success_webhook_notifications: bool | None = None
    scheduled_task_failure_webhook_notifications: bool | None = None
    server_disk_usage_webhook_notifications: bool | None = None
    server_reachable_webhook_notifications: bool | None = None
    server_unreachable_webhook_notifications: bool | None = None
    deployment_success_webhook_notifications: bool | None = None
    deployment_failure_webhook_notifications: bool | None = None
