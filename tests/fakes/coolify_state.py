"""The Coolify fake's in-memory world: servers, projects, environments, services, env vars, volumes.

Time-driven behaviour is lazy: :meth:`CoolifyState.tick` applies every start/stop transition and
async deletion that is due by the injected clock, and the app calls it at the start of each request.
Tests may read and change these objects directly; that is the point of a fake.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.fakes.compose import Compose

RUNNING_HEALTHY = "running:healthy"
STARTING = "starting:unhealthy"
EXITED = "exited"


def now_iso() -> str:
    """A Laravel-style UTC timestamp (``2026-01-01T00:00:00.000000Z``)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Destination:
    """A Docker network on a server (``StandaloneDocker``)."""

    uuid: str
    name: str = "coolify"
    network: str = "coolify"
    type: str = "standalone"
    id: int = 0
    created_at: str = field(default_factory=now_iso)


@dataclass
class Server:
    """A server of the team; ``GET /servers`` lists these."""

    uuid: str
    name: str = "localhost"
    ip: str = "host.docker.internal"
    description: str | None = "This is the server where Coolify is running on. Don't delete this!"
    user: str = "root"
    port: int = 22
    is_usable: bool = True
    is_reachable: bool = True
    is_build_server: bool = False
    wildcard_domain: str | None = None
    destinations: list[Destination] = field(default_factory=list)
    id: int = 0


@dataclass
class Environment:
    id: int
    uuid: str
    name: str
    project_id: int
    description: str | None = None
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)


@dataclass
class Project:
    id: int
    uuid: str
    name: str
    description: str | None
    environments: list[Environment] = field(default_factory=list)
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)

    def find_environment(self, name_or_uuid: str) -> Environment | None:
        """Name first, then uuid (Coolify's ``{environment_name_or_uuid}`` rule)."""
        for env in self.environments:
            if env.name == name_or_uuid:
                return env
        return next((env for env in self.environments if env.uuid == name_or_uuid), None)


@dataclass
class SubResource:
    """A ServiceApplication (``applications[]``) or ServiceDatabase (``databases[]``) row."""

    id: int
    uuid: str
    name: str
    image: str | None
    is_database: bool
    fqdn: str | None = None
    created_at: str = field(default_factory=now_iso)


@dataclass
class EnvVar:
    id: int
    uuid: str
    key: str
    value: str | None
    is_literal: bool = False
    is_multiline: bool = False
    is_shown_once: bool = False
    is_preview: bool = False
    is_required: bool = False
    comment: str | None = None
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)


@dataclass
class Container:
    """What one compose service's container was started with (after Coolify's and Compose's rewrites)."""

    environment: dict[str, str]
    command: list[str] | None = None
    entrypoint: list[str] | None = None


@dataclass
class Activity:
    """A start's activity log entry; Coolify's UI shows it, no API endpoint does."""

    status: str  # "finished" or "error"
    log: str


@dataclass
class Transition:
    """A queued status change: ``target`` becomes the status once the clock reaches ``due``."""

    target: str
    due: float


@dataclass
class Deletion:
    """One ``DELETE /services/{uuid}`` as received, with the flags Coolify would act on."""

    service_uuid: str
    service_name: str
    delete_configurations: bool
    delete_volumes: bool
    docker_cleanup: bool
    delete_connected_networks: bool
    queued_at: float
    due: float
    requests_left: int
    completed_at: float | None = None
    volumes_removed: list[str] = field(default_factory=list)
    volumes_kept: list[str] = field(default_factory=list)


@dataclass
class Service:
    """A compose service (a stack) and everything hanging off it."""

    id: int
    uuid: str
    name: str
    description: str | None
    project: Project
    environment: Environment
    server: Server
    destination: Destination
    compose: Compose | None
    service_type: str | None = None
    connect_to_docker_network: bool = False
    is_container_label_escape_enabled: bool = True
    tags: list[str] = field(default_factory=list)
    applications: list[SubResource] = field(default_factory=list)
    databases: list[SubResource] = field(default_factory=list)
    envs: list[EnvVar] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    status: str = EXITED
    transition: Transition | None = None
    start_outcome: str = RUNNING_HEALTHY
    starts: int = 0
    stops: int = 0
    restarts: int = 0
    deletion: Deletion | None = None
    deployed: dict[str, Any] | None = None  # ``docker_compose``: the compose after the parser's rewrites
    dotenv: str | None = None  # the .env written by the last start
    containers: dict[str, Container] = field(default_factory=dict)  # as started by the last good start
    activities: list[Activity] = field(default_factory=list)
    failed_jobs: list[str] = field(default_factory=list)  # start jobs that threw before any activity
    compose_up_failures: list[str] = field(default_factory=list)  # injected: next starts fail in `up`
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)

    def env(self, key: str) -> EnvVar | None:
        return next((e for e in self.envs if e.key == key), None)

    def env_values(self) -> dict[str, str | None]:
        """Stored env values by key, unhidden (what ``read:sensitive`` would see)."""
        return {e.key: e.value for e in self.envs}

    def domains(self) -> list[str]:
        """The sorted non-empty ``fqdn`` values of the applications (the ``domains`` of create/update)."""
        return sorted(app.fqdn for app in self.applications if app.fqdn)


TOGGLES = (
    "deployment_success_webhook_notifications",
    "deployment_failure_webhook_notifications",
    "status_change_webhook_notifications",
    "backup_success_webhook_notifications",
    "backup_failure_webhook_notifications",
    "scheduled_task_success_webhook_notifications",
    "scheduled_task_failure_webhook_notifications",
    "docker_cleanup_success_webhook_notifications",
    "docker_cleanup_failure_webhook_notifications",
    "server_disk_usage_webhook_notifications",
    "server_reachable_webhook_notifications",
    "server_unreachable_webhook_notifications",
    "server_patch_webhook_notifications",
    "traefik_outdated_webhook_notifications",
)


@dataclass
class WebhookSettings:
    webhook_enabled: bool = False
    webhook_url: str | None = None
    toggles: dict[str, bool] = field(default_factory=lambda: dict.fromkeys(TOGGLES, False))
    allowed_internal_hosts: set[str] = field(default_factory=set)


class CoolifyState:
    """All fake data plus the clock-driven lifecycle rules.

    ``transition_delay`` is how long start/stop/restart take to settle; a deletion completes once
    ``delete_delay`` seconds have passed **and** ``delete_visible_requests`` further requests have been
    served (during which the service is still visible, as with Coolify's queued ``DeleteResourceJob``).
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float],
        seed: int | None,
        transition_delay: float,
        delete_delay: float,
        delete_visible_requests: int,
        version: str = "4.3.10",
    ) -> None:
        self.clock = clock
        self.version = version
        self.rng = random.Random(seed)
        self.transition_delay = transition_delay
        self.delete_delay = delete_delay
        self.delete_visible_requests = delete_visible_requests
        self.servers: list[Server] = []
        self.projects: dict[str, Project] = {}
        self.services: dict[str, Service] = {}
        self.volumes: set[str] = set()
        self.removed_volumes: set[str] = set()
        # The team's shared variables by type (team, project, environment, server) and key.
        self.shared_variables: dict[str, dict[str, str]] = {}
        self.parse_failures = 0  # the next this many parser runs throw (an injected 500)
        self.compose_up_failures: list[str] = []  # the next starts of any service fail in `up`
        self.deletions: list[Deletion] = []
        self.webhook = WebhookSettings()
        self._ids: dict[str, int] = {}

    def new_uuid(self) -> str:
        """A 24-character lowercase id, the shape of Coolify's cuid2 uuids."""
        return "".join(self.rng.choices(string.ascii_lowercase + string.digits, k=24))

    def next_id(self, table: str) -> int:
        self._ids[table] = self._ids.get(table, 0) + 1
        return self._ids[table]

    def random_suffix(self, length: int = 10) -> str:
        return "".join(self.rng.choices(string.ascii_lowercase + string.digits, k=length))

    # -- lookups -------------------------------------------------------------------------------------

    def server(self, uuid: str) -> Server | None:
        return next((s for s in self.servers if s.uuid == uuid), None)

    def services_of(self, project: Project) -> Iterator[Service]:
        return (s for s in self.services.values() if s.project is project)

    # -- lifecycle -----------------------------------------------------------------------------------

    def tick(self) -> None:
        """Apply every transition and deletion that is due now; called once per request."""
        now = self.clock()
        for service in list(self.services.values()):
            self._settle(service, now)
            deletion = service.deletion
            if deletion is None:
                continue
            if deletion.requests_left > 0:
                deletion.requests_left -= 1
            elif now >= deletion.due:
                self._complete_deletion(service, now)

    def settle(self) -> None:
        """Apply due status transitions only (no request is counted)."""
        now = self.clock()
        for service in self.services.values():
            self._settle(service, now)

    def _settle(self, service: Service, now: float) -> None:
        if service.transition is not None and now >= service.transition.due:
            service.status = service.transition.target
            service.transition = None

    def queue(self, service: Service, *, immediate: str | None, target: str) -> None:
        """Set ``immediate`` now (if given) and ``target`` after ``transition_delay``."""
        if immediate is not None:
            service.status = immediate
        service.transition = Transition(target, self.clock() + self.transition_delay)

    def force_status(self, service: Service, status: str) -> None:
        """Set a status now and drop any queued transition."""
        service.status = status
        service.transition = None

    def queue_deletion(self, service: Service, flags: dict[str, bool]) -> Deletion:
        now = self.clock()
        deletion = Deletion(
            service_uuid=service.uuid,
            service_name=service.name,
            queued_at=now,
            due=now + self.delete_delay,
            requests_left=self.delete_visible_requests,
            delete_configurations=flags["delete_configurations"],
            delete_volumes=flags["delete_volumes"],
            docker_cleanup=flags["docker_cleanup"],
            delete_connected_networks=flags["delete_connected_networks"],
        )
        if service.deletion is None:
            service.deletion = deletion
        self.deletions.append(deletion)
        return deletion

    def finish_deletions(self) -> None:
        """Complete every queued deletion now, whatever the delay."""
        now = self.clock()
        for service in list(self.services.values()):
            if service.deletion is not None:
                self._complete_deletion(service, now)

    def _complete_deletion(self, service: Service, now: float) -> None:
        """The first queued job does the work (with its flags); later duplicates finish with it."""
        deletion = service.deletion
        assert deletion is not None
        for record in self.deletions:
            if record.service_uuid == service.uuid and record.completed_at is None:
                record.completed_at = now
        for volume in service.volumes:
            if deletion.delete_volumes:
                self.volumes.discard(volume)
                self.removed_volumes.add(volume)
                deletion.volumes_removed.append(volume)
            else:
                deletion.volumes_kept.append(volume)
        del self.services[service.uuid]

    def pending_deletions(self) -> list[Deletion]:
        return [d for d in self.deletions if d.completed_at is None]
