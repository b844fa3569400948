"""Validate requests against Coolify's upstream OpenAPI 3.1 spec, minus the places where the code differs.

:class:`SpecValidator` finds the operation for a request (spec paths are relative to ``/api/v1``) and
checks the path parameters, the query parameters (unknown, missing or mistyped) and the JSON body
against the operation's ``requestBody`` schema (JSON Schema 2020-12, ``$ref`` resolved through a
``referencing`` registry holding the whole spec). Each problem is one string:
``"<METHOD> <path>: <what failed>"``.

Two normalisations are applied to the loaded spec before anything is checked:

* ``nullable: true`` (an OpenAPI 3.0 keyword the generator still emits, meaningless in 3.1) is honoured
  as "``null`` is also allowed", which is what the PHP validators do.
* Request-body objects that list ``properties`` get ``additionalProperties: false`` unless they say
  otherwise, because Coolify's create/update endpoints refuse any key outside their allow-list with
  ``422 "This field is not allowed."`` (reference §2). A client sending such a key is told so here.

Then :data:`KNOWN_DEVIATIONS` patches the operations where the reference (the code as it runs) and
the spec disagree: the reference wins. If the spec file is missing, :data:`SPEC_AVAILABLE` is false and
:meth:`SpecValidator.check` reports nothing.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

API_PREFIX = "/api/v1"
SPEC_URI = "urn:coolify:openapi"
# Routes that exist in Coolify but not in the spec, and are therefore not violations.
UNVERSIONED_ROUTES = frozenset({("GET", "/api/health")})
HTTP_METHODS = ("get", "post", "put", "patch", "delete")


def _find_spec() -> Path | None:
    """The reference copy next to the checkout (``../shared``), else a copy vendored into the repo."""
    here = Path(__file__).resolve()
    candidates = [
        here.parents[3] / "shared" / "coolify" / "openapi.yaml",  # /work/shared next to /work/main
        here.parent / "vendor" / "coolify-openapi.yaml",  # the same file, vendored (see vendor/SOURCE.md)
    ]
    return next((p for p in candidates if p.is_file()), None)


SPEC_PATH: Path | None = _find_spec()
SPEC_AVAILABLE: bool = SPEC_PATH is not None


# -- deviations --------------------------------------------------------------------------------------

Operation = dict[str, Any]


@dataclass(frozen=True)
class Deviation:
    """A place where Coolify's code accepts what its spec does not; ``patch`` edits the operation."""

    method: str
    path: str
    why: str
    patch: Callable[[Operation], None]


def _body_schema(op: Operation) -> dict[str, Any]:
    schema: dict[str, Any] = op["requestBody"]["content"]["application/json"]["schema"]
    return schema


def _need_one_environment(op: Operation) -> None:
    schema = _body_schema(op)
    schema["required"] = [r for r in schema["required"] if r not in ("environment_name", "environment_uuid")]
    schema["anyOf"] = [{"required": ["environment_name"]}, {"required": ["environment_uuid"]}]


def _urls_url_nullable(op: Operation) -> None:
    _body_schema(op)["properties"]["urls"]["items"]["properties"]["url"]["type"] = ["string", "null"]


def _env_fields(schema: dict[str, Any]) -> None:
    schema["properties"]["value"]["type"] = ["string", "null"]
    schema["properties"]["comment"] = {"type": ["string", "null"], "maxLength": 256}


def _env_create(op: Operation) -> None:
    _env_fields(_body_schema(op))


def _env_update(op: Operation) -> None:
    schema = _body_schema(op)
    _env_fields(schema)
    schema["required"] = ["key"]


def _env_bulk(op: Operation) -> None:
    _env_fields(_body_schema(op)["properties"]["data"]["items"])


_WEBHOOK_KEYS = (
    "deployment_success",
    "deployment_failure",
    "status_change",
    "backup_success",
    "backup_failure",
    "scheduled_task_success",
    "scheduled_task_failure",
    "docker_cleanup_success",
    "docker_cleanup_failure",
    "server_disk_usage",
    "server_reachable",
    "server_unreachable",
    "server_patch",
    "traefik_outdated",
)


def _webhook_settings(op: Operation) -> None:
    """§10: PATCH /notifications/webhook takes webhook_enabled, webhook_url and one boolean per event;
    the spec documents no request body at all."""
    properties: dict[str, Any] = {"webhook_enabled": {"type": "boolean"}, "webhook_url": {"type": "string"}}
    properties |= {f"{key}_webhook_notifications": {"type": "boolean"} for key in _WEBHOOK_KEYS}
    op["requestBody"] = {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"type": "object", "properties": properties, "additionalProperties": False}
            }
        },
    }


# One list, each entry citing the reference (../shared/reference/coolify-api.md). Only request-side
# differences matter here; the response-side ones are listed in the comment below the tuple.
KNOWN_DEVIATIONS: tuple[Deviation, ...] = (
    # §3, §14: the spec marks environment_name AND environment_uuid required; the code needs either one
    # (422 "You need to provide at least one of environment_name or environment_uuid." otherwise).
    Deviation(
        "POST", "/services", "either environment_name or environment_uuid suffices", _need_one_environment
    ),
    # §5.1: urls items are {name: string, url: string|null}; the spec types url as string only.
    Deviation("POST", "/services", "urls[].url may be null", _urls_url_nullable),
    Deviation("PATCH", "/services/{uuid}", "urls[].url may be null", _urls_url_nullable),
    # §6: env bodies take `comment` (string ≤256, absent from the spec) and `value: string|null`.
    Deviation("POST", "/services/{uuid}/envs", "comment accepted, value may be null", _env_create),
    # §6: PATCH .../envs takes the same fields as POST; the spec also requires `value`, the code only `key`.
    Deviation(
        "PATCH", "/services/{uuid}/envs", "only key is required; comment; value may be null", _env_update
    ),
    Deviation("PATCH", "/services/{uuid}/envs/bulk", "items take comment, value may be null", _env_bulk),
    # §10: the webhook channel's settings (the spec lists no body for the PATCH).
    Deviation("PATCH", "/notifications/webhook", "the documented settings keys", _webhook_settings),
)
# Response-side and behavioural mismatches (not checked here, since only requests are validated):
# * POST /services/{uuid}/envs answers 201 with the whole env object; the spec says {uuid} (§6, §14).
# * PATCH /services/{uuid}/envs and PATCH /projects/{uuid} answer 201, not 200 (§14; the spec agrees on 201).
# * The Service schema lacks status, server_status, applications[] and databases[] (§5.2, §14).
# * The Environment schema lacks uuid (§14).
# * DELETE /services/{uuid} is asynchronous; 200 only means "queued" (§5.4, §14).
# * POST /services with connect_to_docker_network answers 422 (§5.1); the spec does not list it for
#   create, so the additionalProperties rule above already flags it.
# * GET /version answers text like "4.3.10" (no "v"); the spec's example is "v4.0.0".
# * 429 from the throttle says {"message": "Too Many Attempts."}; the spec's shared 429 example
#   says "Rate limit exceeded. Please try again later.". Both carry Retry-After.
# * GET /services/{uuid}/start|stop|restart answers 405; the spec only has POST, so a GET is flagged.
# * The spec lists /health under /api/v1; Coolify serves both /api/health and /api/v1/health.


# -- spec loading ------------------------------------------------------------------------------------


def _normalise_nullable(node: Any) -> None:
    if isinstance(node, dict):
        if node.pop("nullable", False) is True and isinstance(node.get("type"), str):
            node["type"] = [node["type"], "null"]
        for value in node.values():
            _normalise_nullable(value)
    elif isinstance(node, list):
        for value in node:
            _normalise_nullable(value)


def _close_objects(schema: Any) -> None:
    if not isinstance(schema, dict):
        return
    if "properties" in schema and "additionalProperties" not in schema:
        schema["additionalProperties"] = False
    for sub in (schema.get("properties") or {}).values():
        _close_objects(sub)
    _close_objects(schema.get("items"))


@functools.lru_cache(maxsize=4)
def _raw_spec_json(path: Path) -> str:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with path.open(encoding="utf-8") as handle:
        return json.dumps(yaml.load(handle, Loader=loader))  # noqa: S506  (a safe loader)


def load_raw_spec(path: Path) -> dict[str, Any]:
    """The spec exactly as published, as a fresh dict (parsing is cached: it takes ~0.5 s)."""
    spec: dict[str, Any] = json.loads(_raw_spec_json(path))
    return spec


@functools.lru_cache(maxsize=4)
def load_spec(path: Path) -> dict[str, Any]:
    """The spec, normalised and patched with :data:`KNOWN_DEVIATIONS` (cached; do not mutate)."""
    spec = load_raw_spec(path)
    _normalise_nullable(spec)
    for item in spec["paths"].values():
        for method in HTTP_METHODS:
            body = item.get(method, {}).get("requestBody", {}).get("content", {}).get("application/json")
            if body is not None:
                _close_objects(body.get("schema"))
    for deviation in KNOWN_DEVIATIONS:
        deviation.patch(spec["paths"][deviation.path][deviation.method.lower()])
    return spec


# -- validation --------------------------------------------------------------------------------------


def _pointer(*parts: str) -> str:
    escaped = "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)
    return "#/" + quote(escaped, safe="/~")


@dataclass(frozen=True)
class _Template:
    path: str
    regex: re.Pattern[str]
    literal_segments: int


def _compile(path: str) -> _Template:
    pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(path))
    literals = sum(1 for seg in path.split("/") if seg and not seg.startswith("{"))
    return _Template(path, re.compile(f"^{pattern}$"), literals)


def _coerce(raw: str, schema: dict[str, Any]) -> Any:
    """Turn a query/path string into the JSON type the schema expects, when it is a valid spelling."""
    kind = schema.get("type")
    if kind == "boolean" and raw in ("true", "false"):
        return raw == "true"
    if kind == "integer" and re.fullmatch(r"-?\d+", raw):
        return int(raw)
    if kind == "number" and re.fullmatch(r"-?\d+(\.\d+)?", raw):
        return float(raw)
    return raw


class SpecValidator:
    """Checks one request at a time against the spec; see the module docstring for what is checked."""

    def __init__(self, spec_path: Path | None = SPEC_PATH) -> None:
        self.spec_path = spec_path if spec_path is not None and spec_path.is_file() else None
        self.available = self.spec_path is not None
        self._spec: dict[str, Any] = load_spec(self.spec_path) if self.spec_path else {"paths": {}}
        resource: Resource[Any] = Resource.from_contents(self._spec, default_specification=DRAFT202012)
        self._registry: Registry[Any] = Registry().with_resource(SPEC_URI, resource)
        self._templates = sorted(
            (_compile(p) for p in self._spec["paths"]), key=lambda t: -t.literal_segments
        )
        self._validators: dict[str, Draft202012Validator] = {}

    def _validator(self, *pointer: str) -> Draft202012Validator:
        ref = SPEC_URI + _pointer(*pointer)
        if ref not in self._validators:
            self._validators[ref] = Draft202012Validator({"$ref": ref}, registry=self._registry)
        return self._validators[ref]

    def check(
        self,
        method: str,
        path: str,
        query: Sequence[tuple[str, str]],
        body: Any,
        *,
        has_body: bool,
        content_type: str | None,
    ) -> list[str]:
        """All spec violations of one request (``path`` is the full URL path, e.g. ``/api/v1/projects``)."""
        if not self.available or (method, path) in UNVERSIONED_ROUTES:
            return []
        where = f"{method} {path}"
        if not path.startswith(API_PREFIX + "/"):
            return [f"{where}: not an /api/v1 route and not in the spec"]
        relative = path[len(API_PREFIX) :]
        matches = [(t, m) for t in self._templates if (m := t.regex.match(relative))]
        chosen = next(((t, m) for t, m in matches if method.lower() in self._spec["paths"][t.path]), None)
        if chosen is None:
            what = "method not in the spec for this path" if matches else "path not in the spec"
            return [f"{where}: {what}"]
        template, match = chosen
        item = self._spec["paths"][template.path]
        op = item[method.lower()]
        params = [*item.get("parameters", []), *op.get("parameters", [])]
        problems = self._check_params(template.path, method, params, match.groupdict(), query)
        problems += self._check_body(template.path, method, op, body, has_body, content_type)
        return [f"{where}: {p}" for p in problems]

    def _check_params(
        self,
        template: str,
        method: str,
        params: list[dict[str, Any]],
        path_values: dict[str, str],
        query: Sequence[tuple[str, str]],
    ) -> list[str]:
        problems: list[str] = []
        given = dict(query)
        declared = {p["name"] for p in params if p.get("in") == "query"}
        problems += [f"query parameter {name!r} is not in the spec" for name in given if name not in declared]
        for param in params:
            where, name = param.get("in"), param["name"]
            raw = path_values.get(name) if where == "path" else given.get(name) if where == "query" else None
            if raw is None:
                if where == "query" and param.get("required"):
                    problems.append(f"required query parameter {name!r} is missing")
                continue
            schema = param.get("schema", {})
            for error in Draft202012Validator(schema).iter_errors(_coerce(raw, schema)):
                problems.append(f"{where} parameter {name!r}={raw!r}: {error.message}")
        return problems

    def _check_body(
        self,
        template: str,
        method: str,
        op: Operation,
        body: Any,
        has_body: bool,
        content_type: str | None,
    ) -> list[str]:
        request_body = op.get("requestBody")
        if request_body is None:
            return ["the operation takes no request body"] if has_body else []
        if not has_body:
            return ["request body is required"] if request_body.get("required") else []
        if "application/json" in request_body.get("content", {}):
            if not content_type or "json" not in content_type:
                return [f"Content-Type {content_type!r} is not application/json"]
            validator = self._validator(
                "paths", template, method.lower(), "requestBody", "content", "application/json", "schema"
            )
            return list(_describe(validator.iter_errors(body)))
        return []


def _describe(errors: Iterable[Any]) -> Iterable[str]:
    for error in sorted(errors, key=lambda e: [str(p) for p in e.absolute_path]):
        location = "body" + "".join(f"[{p!r}]" for p in error.absolute_path)
        hint = ""
        if error.validator == "additionalProperties":
            hint = " (Coolify refuses unknown fields: 422 'This field is not allowed.')"
        yield f"{location}: {error.message}{hint}"
