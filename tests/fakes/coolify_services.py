"""Fake handlers for ``/services``: create, read, update, async delete and start/stop/restart (§5).

The order of checks follows ``ServicesController::create_service`` as the reference describes it:
body checks → field rules → environment rule → project → environment → server → destination →
compose → save → ``parse()`` → ``urls`` → tags → ``instant_deploy``. A create whose ``urls`` fail
leaves no service behind; one whose ``parse()`` throws answers 500 and leaves the half-made service
(no ``urls`` applied, no tags), as does a PATCH with its new compose (§15).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import yaml

from tests.fakes import coolify_rules as rules
from tests.fakes.compose import ComposeError, decode_compose
from tests.fakes.coolify_api import Ctx, Reply, message, serialize, validation_failed
from tests.fakes.coolify_envparse import ParserError
from tests.fakes.coolify_parse import apply_urls, parse
from tests.fakes.coolify_start import run_start
from tests.fakes.coolify_state import EXITED, CoolifyState, Service, SubResource, now_iso

SERVICE_NOT_FOUND = "Service not found."
SERVER_ERROR = Reply(500, {"message": "Server Error"})  # Laravel's answer to an uncaught exception
CREATE_FIELDS = (
    "type",
    "docker_compose_raw",
    "name",
    "description",
    "project_uuid",
    "environment_name",
    "environment_uuid",
    "server_uuid",
    "destination_uuid",
    "instant_deploy",
    "urls",
    "force_domain_override",
    "is_container_label_escape_enabled",
    "tags",
)
UPDATE_FIELDS = (
    "name",
    "description",
    "instant_deploy",
    "docker_compose_raw",
    "connect_to_docker_network",
    "urls",
    "force_domain_override",
    "is_container_label_escape_enabled",
)
DELETE_FLAGS = ("delete_configurations", "delete_volumes", "docker_cleanup", "delete_connected_networks")


# -- serialisation -----------------------------------------------------------------------------------


def sub_json(sub: SubResource, service: Service) -> dict[str, Any]:
    """A ServiceApplication / ServiceDatabase row; its status mirrors the service's aggregate."""
    row: dict[str, Any] = {
        "uuid": sub.uuid,
        "name": sub.name,
        "description": None,
        "human_name": None,
        "image": sub.image,
        "status": service.status,
        "exclude_from_status": False,
        "is_log_drain_enabled": False,
        "service_id": service.id,
        "created_at": sub.created_at,
        "updated_at": sub.created_at,
    }
    if sub.is_database:
        row |= {"is_public": False, "public_port": None}
    else:
        row |= {
            "fqdn": sub.fqdn,
            "ports": None,
            "is_force_https_enabled": True,
            "is_gzip_enabled": True,
            "is_stripprefix_enabled": True,
        }
    return serialize(row)


def service_json(service: Service, sensitive: bool) -> dict[str, Any]:
    """A service as ``GET /services/{uuid}`` shows it (§5.2); the compose only for sensitive tokens."""
    compose_text = yaml.safe_dump(service.compose.document, sort_keys=False) if service.compose else ""
    row: dict[str, Any] = {
        "uuid": service.uuid,
        "name": service.name,
        "description": service.description,
        "environment_id": service.environment.id,
        "server_id": service.server.id,
        "destination_id": service.destination.id,
        "destination_type": "App\\Models\\StandaloneDocker",
        "service_type": service.service_type,
        "connect_to_docker_network": service.connect_to_docker_network,
        "is_container_label_escape_enabled": service.is_container_label_escape_enabled,
        "config_hash": hashlib.md5(compose_text.encode(), usedforsecurity=False).hexdigest(),
        "compose_parsing_version": "5",
        "status": service.status,
        "server_status": service.server.is_reachable,
        "applications": [sub_json(a, service) for a in service.applications],
        "databases": [sub_json(d, service) for d in service.databases],
        "created_at": service.created_at,
        "updated_at": service.updated_at,
        "deleted_at": None,
    }
    if sensitive:
        # Coolify stores the decoded YAML re-dumped (comments and formatting lost), never the base64.
        row["docker_compose_raw"] = compose_text
        row["docker_compose"] = yaml.safe_dump(service.deployed, sort_keys=False) if service.deployed else ""
    return serialize(row)


# -- field rules -------------------------------------------------------------------------------------


def _check_fields(body: Mapping[str, Any], allowed: tuple[str, ...], *, create: bool) -> rules.Errors:
    errors: rules.Errors = {}
    for name in ("type", "environment_name", "environment_uuid", "destination_uuid"):
        rules.check_string(body, name, errors, nullable=True)
    rules.check_string(body, "docker_compose_raw", errors, nullable=True)
    rules.check_string(body, "name", errors, max_len=255, nullable=not create)
    rules.check_string(body, "description", errors, nullable=True)
    rules.check_string(body, "project_uuid", errors, required=create)
    rules.check_string(body, "server_uuid", errors, required=create)
    for flag in (
        "instant_deploy",
        "force_domain_override",
        "is_container_label_escape_enabled",
        "connect_to_docker_network",
    ):
        rules.check_bool(body, flag, errors)
    _check_urls(body.get("urls"), errors)
    _check_tags(body.get("tags"), errors)
    rules.reject_unknown(body, allowed, errors)
    return errors


def _check_urls(urls: object, errors: rules.Errors) -> None:
    """``urls``: an array of ``{name, url}`` objects, nothing else per item (§5.1)."""
    if urls is None:
        return
    if not isinstance(urls, list):
        rules.add(errors, "urls", "The urls field must be an array.")
        return
    for i, item in enumerate(urls):
        if not isinstance(item, dict):
            rules.add(errors, f"urls.{i}", f"The urls.{i} field must be an array.")
            continue
        name = item.get("name")
        if name is None or name == "":
            rules.add(errors, f"urls.{i}.name", f"The urls.{i}.name field is required.")
        elif not isinstance(name, str):
            rules.add(errors, f"urls.{i}.name", f"The urls.{i}.name field must be a string.")
        if item.get("url") is not None and not isinstance(item["url"], str):
            rules.add(errors, f"urls.{i}.url", f"The urls.{i}.url field must be a string.")
        for key in item:
            if key not in ("name", "url"):
                rules.add(errors, f"urls.{i}.{key}", "This field is not allowed.")


def _check_tags(tags: object, errors: rules.Errors) -> None:
    """``tags``: an array of strings of at least 2 characters each."""
    if tags is None:
        return
    if not isinstance(tags, list):
        rules.add(errors, "tags", "The tags field must be an array.")
        return
    for i, tag in enumerate(tags):
        if not isinstance(tag, str) or len(tag) < 2:
            rules.add(errors, f"tags.{i}", f"The tags.{i} field must be at least 2 characters.")


# -- handlers ----------------------------------------------------------------------------------------


def list_services(ctx: Ctx) -> Reply:
    """Every service of every project, each with its ``status`` (deletion-pending ones included)."""
    return Reply(200, [service_json(s, ctx.sensitive) for s in ctx.state.services.values()])


def get_service(ctx: Ctx) -> Reply:
    service = ctx.state.services.get(ctx.params["uuid"])
    if service is None:
        return message(404, SERVICE_NOT_FOUND)
    return Reply(200, service_json(service, ctx.sensitive))


def create_service(ctx: Ctx) -> Reply:
    """``201 {"uuid", "domains"}``. Names are not unique; there is no idempotency key."""
    body, state = ctx.body, ctx.state
    errors = _check_fields(body, CREATE_FIELDS, create=True)
    if "connect_to_docker_network" in body:  # in the inner allow-list only, so refused on create (§5.1)
        errors.setdefault("connect_to_docker_network", ["This field is not allowed."])
    if errors:
        return validation_failed(errors)
    if body.get("type") and body.get("docker_compose_raw"):
        return message(
            422, "You cannot provide both service type and docker_compose_raw. Use one or the other."
        )
    if not body.get("environment_name") and not body.get("environment_uuid"):
        return message(422, "You need to provide at least one of environment_name or environment_uuid.")
    if not body.get("type") and not body.get("docker_compose_raw"):
        # The reference says one of the two is needed but not how a body with neither is refused.
        return validation_failed(
            {"type": ["The type field is required when docker compose raw is not present."]}
        )
    project = state.projects.get(body["project_uuid"])
    if project is None:
        return message(404, "Project not found.")
    environment = None
    if body.get("environment_name"):
        environment = next((e for e in project.environments if e.name == body["environment_name"]), None)
    if environment is None and body.get("environment_uuid"):
        environment = next((e for e in project.environments if e.uuid == body["environment_uuid"]), None)
    if environment is None:
        return message(404, "Environment not found.")
    server = state.server(body["server_uuid"])
    if server is None:
        return message(404, "Server not found.")
    if server.is_build_server:
        return validation_failed(
            {
                "server_uuid": [
                    "The specified server is configured as a build server and cannot host resources."
                ]
            }
        )
    if not server.destinations:
        return message(400, "Server has no destinations.")
    destination = server.destinations[0]
    if len(server.destinations) > 1:
        if not body.get("destination_uuid"):
            return message(400, "Server has multiple destinations and you do not set destination_uuid.")
        chosen = next((d for d in server.destinations if d.uuid == body["destination_uuid"]), None)
        if chosen is None:
            return validation_failed(
                {"destination_uuid": "Provided destination_uuid does not belong to the specified server."}
            )
        destination = chosen
    if body.get("type"):
        # The fake has no one-click catalogue: every type is unknown (the provisioner uses raw compose).
        return message(404, "Service not found.", valid_service_types=[])
    try:
        compose = decode_compose(body["docker_compose_raw"])
    except ComposeError as exc:
        return validation_failed({"docker_compose_raw": str(exc)})
    service = Service(
        id=state.next_id("services"),
        uuid=state.new_uuid(),
        name=body.get("name") or f"service-{state.random_suffix()}",
        description=body.get("description"),
        project=project,
        environment=environment,
        server=server,
        destination=destination,
        compose=compose,
        is_container_label_escape_enabled=rules.to_bool(body.get("is_container_label_escape_enabled", True)),
    )
    state.services[service.uuid] = service  # saved before parse(), as in Coolify
    try:
        parse(state, service)
    except ParserError:
        return SERVER_ERROR
    if body.get("urls"):
        refused = apply_urls(
            state, service, body["urls"], force=rules.to_bool(body.get("force_domain_override"))
        )
        if refused is not None:
            del state.services[service.uuid]  # Coolify soft-deletes the half-made service
            return refused
    service.tags = list(body.get("tags") or [])
    state.volumes.update(service.volumes)
    if rules.to_bool(body.get("instant_deploy")):
        begin_start(state, service)
    return Reply(201, {"uuid": service.uuid, "domains": service.domains()})


def update_service(ctx: Ctx) -> Reply:
    """``200 {"uuid", "domains"}``. Not atomic: fields are saved before a ``urls`` 409/422 (§5.3)."""
    service = ctx.state.services.get(ctx.params["uuid"])
    if service is None:
        return message(404, SERVICE_NOT_FOUND)
    body = ctx.body
    errors = _check_fields(body, UPDATE_FIELDS, create=False)
    if errors:
        return validation_failed(errors)
    compose = service.compose
    if body.get("docker_compose_raw"):
        try:
            compose = decode_compose(body["docker_compose_raw"])
        except ComposeError as exc:
            return validation_failed({"docker_compose_raw": str(exc)})
    if body.get("name"):
        service.name = body["name"]
    if "description" in body:
        service.description = body["description"]
    for flag in ("connect_to_docker_network", "is_container_label_escape_enabled"):
        if body.get(flag) is not None:
            setattr(service, flag, rules.to_bool(body[flag]))
    service.compose = compose
    service.updated_at = now_iso()
    try:
        parse(ctx.state, service)
    except ParserError:
        return SERVER_ERROR  # the new compose and fields are saved; urls are not applied
    ctx.state.volumes.update(service.volumes)
    if body.get("urls"):
        refused = apply_urls(
            ctx.state, service, body["urls"], force=rules.to_bool(body.get("force_domain_override"))
        )
        if refused is not None:
            return refused
    if rules.to_bool(body.get("instant_deploy")):
        begin_start(ctx.state, service)
    return Reply(200, {"uuid": service.uuid, "domains": service.domains()})


def delete_service(ctx: Ctx) -> Reply:
    """``200`` "queued"; the service stays visible until the fake's deletion job completes (§5.4)."""
    service = ctx.state.services.get(ctx.params["uuid"])
    if service is None:
        return message(404, SERVICE_NOT_FOUND)
    flags = {name: rules.query_bool(ctx.query.get(name), True) for name in DELETE_FLAGS}
    ctx.state.queue_deletion(service, flags)
    return message(200, "Service deletion request queued.")


def begin_start(state: CoolifyState, service: Service) -> None:
    """``StartService``, queued: the job is :func:`~tests.fakes.coolify_start.run_start`."""
    service.starts += 1
    run_start(state, service)


def start_service(ctx: Ctx) -> Reply:
    service = ctx.state.services.get(ctx.params["uuid"])
    if service is None:
        return message(404, SERVICE_NOT_FOUND)
    if "running" in service.status:
        return message(400, "Service is already running.")
    begin_start(ctx.state, service)
    return message(200, "Service starting request queued.")


def stop_service(ctx: Ctx) -> Reply:
    service = ctx.state.services.get(ctx.params["uuid"])
    if service is None:
        return message(404, SERVICE_NOT_FOUND)
    if "stopped" in service.status or "exited" in service.status:
        return message(400, "Service is already stopped.")
    service.stops += 1
    ctx.state.queue(service, immediate=None, target=EXITED)
    return message(200, "Service stopping request queued.")


def restart_service(ctx: Ctx) -> Reply:
    """No status check: a restart is always queued (``StartService(stopBeforeStart: true)``)."""
    service = ctx.state.services.get(ctx.params["uuid"])
    if service is None:
        return message(404, SERVICE_NOT_FOUND)
    service.restarts += 1
    run_start(ctx.state, service)
    return message(200, "Service restarting request queued.")


def lifecycle_needs_post(ctx: Ctx) -> Reply:
    """A ``GET`` on start/stop/restart: ``405`` with ``Allow: POST`` (§5.5)."""
    return Reply(405, {"message": "This endpoint has changed to a POST request."}, headers={"Allow": "POST"})
