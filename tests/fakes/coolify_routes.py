"""The fake's route table, in Laravel's registration order, and the shared JSON-body check."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.fakes import coolify_envs as envs
from tests.fakes import coolify_notifications as notifications
from tests.fakes import coolify_projects as projects
from tests.fakes import coolify_services as services
from tests.fakes.coolify_api import Ctx, Reply

Handler = Callable[[Ctx], Reply]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    ability: str | None  # None: any valid token will do
    json_body: bool = False


def route(
    method: str, template: str, handler: Handler, ability: str | None, json_body: bool = False
) -> Route:
    regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape("/api/v1" + template))
    return Route(method, re.compile(f"^{regex}$"), handler, ability, json_body)


def _version(ctx: Ctx) -> Reply:
    """``GET /version``: the bare version as ``text/html`` (e.g. ``4.3.10``, no ``v``)."""
    return Reply(200, text=ctx.state.version)


# Laravel tries routes in registration order: literal segments before catch-all parameters.
ROUTES: tuple[Route, ...] = (
    route("GET", "/version", _version, "read"),
    route("GET", "/servers", projects.list_servers, "read"),
    route("GET", "/servers/{uuid}", projects.get_server, "read"),
    route("GET", "/servers/{server_uuid}/destinations", projects.list_destinations, "read"),
    route("GET", "/projects", projects.list_projects, "read"),
    route("POST", "/projects", projects.create_project, "write", json_body=True),
    route("GET", "/projects/{uuid}", projects.get_project, "read"),
    route("PATCH", "/projects/{uuid}", projects.update_project, "write", json_body=True),
    route("DELETE", "/projects/{uuid}", projects.delete_project, "write"),
    route("GET", "/projects/{uuid}/environments", projects.list_environments, "read"),
    route("POST", "/projects/{uuid}/environments", projects.create_environment, "write", json_body=True),
    route("GET", "/projects/{uuid}/{environment_name_or_uuid}", projects.get_environment, "read"),
    route("GET", "/services", services.list_services, "read"),
    route("POST", "/services", services.create_service, "write", json_body=True),
    route("GET", "/services/{uuid}", services.get_service, "read"),
    route("PATCH", "/services/{uuid}", services.update_service, "write", json_body=True),
    route("DELETE", "/services/{uuid}", services.delete_service, "write"),
    route("GET", "/services/{uuid}/envs", envs.list_envs, "read"),
    route("POST", "/services/{uuid}/envs", envs.create_env, "write", json_body=True),
    route("PATCH", "/services/{uuid}/envs/bulk", envs.bulk_envs, "write", json_body=True),
    route("PATCH", "/services/{uuid}/envs", envs.update_env, "write", json_body=True),
    route("DELETE", "/services/{uuid}/envs/{env_uuid}", envs.delete_env, "write"),
    route("POST", "/services/{uuid}/start", services.start_service, "deploy"),
    route("POST", "/services/{uuid}/stop", services.stop_service, "deploy"),
    route("POST", "/services/{uuid}/restart", services.restart_service, "deploy"),
    route("GET", "/services/{uuid}/start", services.lifecycle_needs_post, None),
    route("GET", "/services/{uuid}/stop", services.lifecycle_needs_post, None),
    route("GET", "/services/{uuid}/restart", services.lifecycle_needs_post, None),
    route("GET", "/notifications/webhook", notifications.get_webhook, "read"),
    route("PATCH", "/notifications/webhook", notifications.update_webhook, "write", json_body=True),
)


def match_route(method: str, path: str) -> tuple[Route | None, dict[str, str]]:
    """The first route for ``method`` and ``path``; a trailing slash is ignored, as by Laravel."""
    path = path.rstrip("/") or "/"
    for candidate in ROUTES:
        if candidate.method == method and (match := candidate.pattern.match(path)):
            return candidate, match.groupdict()
    return None, {}


def check_json_body(content_type: str, body: Any) -> Reply | None:
    """``validateIncomingRequest()``: JSON content type, valid JSON, not empty (§2), all as 400."""
    if "/json" not in content_type and "+json" not in content_type:
        return Reply(400, {"message": "Invalid request.", "error": "Content-Type must be application/json."})
    if not isinstance(body, dict):  # unparsable, empty, or not an object
        return Reply(400, {"message": "Invalid request.", "error": "Invalid JSON."})
    if not body:
        return Reply(400, {"message": "Invalid request.", "error": "Empty JSON."})
    return None
