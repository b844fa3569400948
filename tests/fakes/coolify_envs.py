"""Fake handlers for a service's environment variables (reference §6).

Values are hidden unless the token has ``read:sensitive`` or ``root``; ``is_shown_once`` always hides
them. Unknown keys in env bodies are ignored (mass assignment of fillable columns only), not refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tests.fakes import coolify_rules as rules
from tests.fakes.coolify_api import Ctx, Reply, message, serialize, validation_failed
from tests.fakes.coolify_state import EnvVar, Service, now_iso

FLAGS = ("is_literal", "is_multiline", "is_shown_once", "is_preview")


def env_json(env: EnvVar, sensitive: bool) -> dict[str, Any]:
    row: dict[str, Any] = {
        "uuid": env.uuid,
        "key": env.key,
        "is_literal": env.is_literal,
        "is_multiline": env.is_multiline,
        "is_preview": env.is_preview,
        "is_shown_once": env.is_shown_once,
        "is_runtime": True,
        "is_buildtime": False,
        "is_shared": False,
        "comment": env.comment,
        "version": "4.3.10",
        "created_at": env.created_at,
        "updated_at": env.updated_at,
    }
    if sensitive and not env.is_shown_once:
        row["value"] = env.value
        row["real_value"] = env.value
    return serialize(row)


def _service(ctx: Ctx) -> Service | None:
    return ctx.state.services.get(ctx.params["uuid"])


def _normalised(item: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(item)
    if "key" in out:
        out["key"] = rules.normalise_env_key(out["key"])
    return out


def _assign(env: EnvVar, item: Mapping[str, Any]) -> None:
    if "value" in item:
        env.value = item["value"]
    for flag in FLAGS:
        if item.get(flag) is not None:
            setattr(env, flag, rules.to_bool(item[flag]))
    if "comment" in item:
        env.comment = item["comment"]
    env.updated_at = now_iso()


def _new_env(ctx: Ctx, service: Service, item: Mapping[str, Any]) -> EnvVar:
    env = EnvVar(ctx.state.next_id("envs"), ctx.state.new_uuid(), item["key"], None)
    _assign(env, item)
    service.envs.append(env)
    return env


def list_envs(ctx: Ctx) -> Reply:
    service = _service(ctx)
    if service is None:
        return message(404, "Service not found.")
    return Reply(200, [env_json(e, ctx.sensitive) for e in service.envs])


def create_env(ctx: Ctx) -> Reply:
    """``201`` with the env object (the spec says ``{uuid}``); ``409`` if the key exists."""
    service = _service(ctx)
    if service is None:
        return message(404, "Service not found.")
    item = _normalised(ctx.body)
    errors: rules.Errors = {}
    rules.check_env_item(item, errors)
    if errors:
        return validation_failed(errors)
    if service.env(item["key"]) is not None:
        return message(409, "Environment variable already exists. Use PATCH request to update it.")
    return Reply(201, env_json(_new_env(ctx, service, item), ctx.sensitive))


def update_env(ctx: Ctx) -> Reply:
    """``PATCH /services/{uuid}/envs`` finds the variable by ``key`` in the body; answers **201**."""
    service = _service(ctx)
    if service is None:
        return message(404, "Service not found.")
    item = _normalised(ctx.body)
    errors: rules.Errors = {}
    rules.check_env_item(item, errors)
    if errors:
        return validation_failed(errors)
    env = service.env(item["key"])
    if env is None:
        return message(404, "Environment variable not found.")
    _assign(env, item)
    return Reply(201, env_json(env, ctx.sensitive))


def bulk_envs(ctx: Ctx) -> Reply:
    """Upsert by key, item by item: a bad item is refused with 422 after earlier ones were saved."""
    service = _service(ctx)
    if service is None:
        return message(404, "Service not found.")
    data = ctx.body.get("data")
    if not isinstance(data, list):
        # The reference names only the missing case; a non-list ``data`` is refused the same way here.
        return message(400, "Bulk data is required.")
    saved = []
    for raw in data:
        if not isinstance(raw, dict):
            return validation_failed({"data": ["Each item must be an object."]})
        item = _normalised(raw)
        errors: rules.Errors = {}
        rules.check_env_item(item, errors)
        if errors:
            return validation_failed(errors)
        env = service.env(item["key"])
        if env is None:
            env = _new_env(ctx, service, item)
        else:
            _assign(env, item)
        saved.append(env)
    return Reply(201, [env_json(e, ctx.sensitive) for e in saved])


def delete_env(ctx: Ctx) -> Reply:
    service = _service(ctx)
    if service is None:
        return message(404, "Service not found.")
    env = next((e for e in service.envs if e.uuid == ctx.params["env_uuid"]), None)
    if env is None:
        return message(404, "Environment variable not found.")
    service.envs.remove(env)
    return message(200, "Environment variable deleted.")
