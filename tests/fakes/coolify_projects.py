"""Fake handlers for servers, destinations, projects and environments (reference §3 and §4)."""

from __future__ import annotations

from typing import Any

from tests.fakes import coolify_rules as rules
from tests.fakes.coolify_api import Ctx, Reply, message, serialize, validation_failed
from tests.fakes.coolify_services import service_json
from tests.fakes.coolify_state import Destination, Environment, Project, Server, now_iso

PROJECT_NOT_FOUND = "Project not found."


# -- servers -----------------------------------------------------------------------------------------


def server_json(server: Server) -> dict[str, Any]:
    """A server as ``GET /servers`` shows it (``id`` hidden)."""
    return serialize(
        {
            "uuid": server.uuid,
            "name": server.name,
            "description": server.description,
            "ip": server.ip,
            "user": server.user,
            "port": server.port,
            "proxy_type": "traefik",
            "is_reachable": server.is_reachable,
            "is_usable": server.is_usable,
            "settings": {
                "is_build_server": server.is_build_server,
                "is_reachable": server.is_reachable,
                "is_usable": server.is_usable,
                "wildcard_domain": server.wildcard_domain,
            },
        }
    )


def destination_json(destination: Destination, server: Server) -> dict[str, Any]:
    return serialize(
        {
            "uuid": destination.uuid,
            "name": destination.name,
            "network": destination.network,
            "type": destination.type,
            "server_uuid": server.uuid,
            "created_at": destination.created_at,
            "updated_at": destination.created_at,
        }
    )


def list_servers(ctx: Ctx) -> Reply:
    return Reply(200, [server_json(s) for s in ctx.state.servers])


def get_server(ctx: Ctx) -> Reply:
    server = ctx.state.server(ctx.params["uuid"])
    if server is None:
        return message(404, "Server not found.")
    return Reply(200, server_json(server))


def list_destinations(ctx: Ctx) -> Reply:
    server = ctx.state.server(ctx.params["server_uuid"])
    if server is None:
        return message(404, "Server not found.")
    return Reply(200, [destination_json(d, server) for d in server.destinations])


# -- projects ----------------------------------------------------------------------------------------


def environment_json(env: Environment) -> dict[str, Any]:
    return serialize(
        {
            "id": env.id,
            "uuid": env.uuid,
            "name": env.name,
            "description": env.description,
            "project_id": env.project_id,
            "created_at": env.created_at,
            "updated_at": env.updated_at,
        }
    )


def list_projects(ctx: Ctx) -> Reply:
    """``200 [{id, uuid, name, description}]`` (the controller selects only these columns)."""
    rows = [
        serialize({"id": p.id, "uuid": p.uuid, "name": p.name, "description": p.description})
        for p in ctx.state.projects.values()
    ]
    return Reply(200, rows)


def create_project(ctx: Ctx) -> Reply:
    """``201 {"uuid"}``; names are not unique; a ``production`` environment comes with every project."""
    errors: rules.Errors = {}
    rules.check_name(ctx.body, errors)
    rules.check_description(ctx.body, errors)
    rules.reject_unknown(ctx.body, ("name", "description"), errors)
    if errors:
        return validation_failed(errors)
    state = ctx.state
    project = Project(
        state.next_id("projects"), state.new_uuid(), ctx.body["name"], ctx.body.get("description")
    )
    project.environments.append(
        Environment(state.next_id("environments"), state.new_uuid(), "production", project.id)
    )
    state.projects[project.uuid] = project
    return Reply(201, {"uuid": project.uuid})


def get_project(ctx: Ctx) -> Reply:
    project = ctx.state.projects.get(ctx.params["uuid"])
    if project is None:
        return message(404, PROJECT_NOT_FOUND)
    row = {
        "id": project.id,
        "uuid": project.uuid,
        "name": project.name,
        "description": project.description,
        "team_id": 0,
        "environments": [environment_json(e) for e in project.environments],
        "created_at": project.created_at,
        "updated_at": project.updated_at,
    }
    return Reply(200, serialize(row))


def update_project(ctx: Ctx) -> Reply:
    """``PATCH /projects/{uuid}`` answers **201** ``{uuid, name, description}`` (§3, §14)."""
    project = ctx.state.projects.get(ctx.params["uuid"])
    if project is None:
        return message(404, PROJECT_NOT_FOUND)
    errors: rules.Errors = {}
    rules.check_name(ctx.body, errors, required=False)
    rules.check_description(ctx.body, errors)
    rules.reject_unknown(ctx.body, ("name", "description"), errors)
    if errors:
        return validation_failed(errors)
    if ctx.body.get("name"):
        project.name = ctx.body["name"]
    if "description" in ctx.body:
        project.description = ctx.body["description"]
    project.updated_at = now_iso()
    return Reply(201, {"uuid": project.uuid, "name": project.name, "description": project.description})


def delete_project(ctx: Ctx) -> Reply:
    """``400`` while any service remains, including one whose async delete has not finished."""
    project = ctx.state.projects.get(ctx.params["uuid"])
    if project is None:
        return message(404, PROJECT_NOT_FOUND)
    if any(True for _ in ctx.state.services_of(project)):
        return message(400, "Project has resources, so it cannot be deleted.")
    del ctx.state.projects[project.uuid]
    return message(200, "Project deleted.")


def list_environments(ctx: Ctx) -> Reply:
    project = ctx.state.projects.get(ctx.params["uuid"])
    if project is None:
        return message(404, PROJECT_NOT_FOUND)
    rows = [serialize({"id": e.id, "uuid": e.uuid, "name": e.name}) for e in project.environments]
    return Reply(200, rows)


def create_environment(ctx: Ctx) -> Reply:
    """``201 {"uuid"}``; ``409`` if the project already has an environment of that name."""
    project = ctx.state.projects.get(ctx.params["uuid"])
    if project is None:
        return message(404, PROJECT_NOT_FOUND)
    errors: rules.Errors = {}
    rules.check_name(ctx.body, errors)
    rules.reject_unknown(ctx.body, ("name",), errors)
    if errors:
        return validation_failed(errors)
    if any(e.name == ctx.body["name"] for e in project.environments):
        return message(409, "Environment with this name already exists.")
    state = ctx.state
    env = Environment(state.next_id("environments"), state.new_uuid(), ctx.body["name"], project.id)
    project.environments.append(env)
    return Reply(201, {"uuid": env.uuid})


def get_environment(ctx: Ctx) -> Reply:
    """The environment with its resources; only ``services`` is ever non-empty in the fake."""
    project = ctx.state.projects.get(ctx.params["uuid"])
    if project is None:
        return message(404, PROJECT_NOT_FOUND)
    env = project.find_environment(ctx.params["environment_name_or_uuid"])
    if env is None:
        return message(404, "Environment not found.")
    services = [
        service_json(s, ctx.sensitive) for s in ctx.state.services_of(project) if s.environment is env
    ]
    row = environment_json(env) | {
        "applications": [],
        "postgresqls": [],
        "redis": [],
        "mongodbs": [],
        "mysqls": [],
        "mariadbs": [],
        "services": services,
    }
    return Reply(200, serialize(row))
