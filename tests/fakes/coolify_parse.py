"""The fake's ``$service->parse()`` and ``applyServiceUrls()``: sub-resources, variables, volumes, domains.

``parse`` runs on create, on a PATCH and on every start/restart, as in Coolify (§5.1, §5.3, §5.5). It
keeps the deployed compose (Coolify's ``docker_compose``) on the service; the environment rewrites are
:mod:`tests.fakes.coolify_envparse`, and a :class:`~tests.fakes.coolify_envparse.ParserError` from there
propagates (the handlers turn it into Coolify's 500).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from tests.fakes.coolify_api import Reply, message, validation_failed
from tests.fakes.coolify_envparse import ParserError, parse_environments
from tests.fakes.coolify_state import CoolifyState, Service, SubResource

CONFLICT_MESSAGE = "Domain conflicts detected. Use force_domain_override=true to proceed."
CONFLICT_WARNING = (
    "Using the same domain for multiple resources can cause routing conflicts and unpredictable behavior."
)
RESTART_MODE = "unless-stopped"


def parse(state: CoolifyState, service: Service) -> None:
    """Sync sub-resources, named volumes and variables with the compose; keep the deployed compose.

    Sub-resources are saved first (a parser error later leaves them behind, as in Coolify) and keep
    their uuid and fqdn across re-parses while the compose service name stays.
    """
    compose = service.compose
    if compose is None:
        return
    existing = {sub.name: sub for sub in [*service.applications, *service.databases]}
    applications: list[SubResource] = []
    databases: list[SubResource] = []
    for sub in compose.sub_services():
        row = existing.get(sub.name) or SubResource(
            state.next_id("sub_resources"), state.new_uuid(), sub.name, sub.image, sub.is_database
        )
        row.image, row.is_database = sub.image, sub.is_database
        (databases if sub.is_database else applications).append(row)
    service.applications, service.databases = applications, databases
    service.volumes = [f"{service.uuid}_{name}" for name in compose.named_volumes()]
    if state.parse_failures > 0:
        state.parse_failures -= 1
        raise ParserError("injected parser failure")
    environments = parse_environments(state, service, state.shared_variables)
    service.deployed = _deployed(service, environments)


def _deployed(service: Service, environments: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``collect($service)->merge([...])``: every key passes through; these are Coolify's."""
    assert service.compose is not None
    document: dict[str, Any] = copy.deepcopy(service.compose.document)
    for name, spec in document["services"].items():
        if not isinstance(spec, dict):
            continue
        spec["container_name"] = f"{name}-{service.uuid}"
        spec["restart"] = spec.get("restart") or RESTART_MODE
        if environments.get(str(name)):
            spec["environment"] = environments[str(name)]
        env_files = spec.get("env_file") or []
        env_files = [env_files] if isinstance(env_files, str) else list(env_files)
        spec["env_file"] = [*dict.fromkeys([*env_files, ".env"])]
    return document


def _hosts(url: str | None) -> list[str]:
    return [urlsplit(part.strip()).hostname or "" for part in (url or "").split(",") if part.strip()]


def apply_urls(state: CoolifyState, service: Service, urls: Sequence[Any], *, force: bool) -> Reply | None:
    """Set ``fqdn`` of each named application; return the refusal Coolify would send, or ``None``.

    Checks, in order: the name is an application of this compose (databases take no URL), URL syntax
    (``http``/``https`` with a host), duplicates inside the request, and hosts already used by another
    service (``409`` with ``conflicts``). The last two are skipped with ``force_domain_override``.
    The reference gives the unknown-name text but not its envelope, nor the messages of the syntax and
    duplicate checks: those envelopes and messages are the fake's own.
    """
    apps = {app.name: app for app in service.applications}
    for item in urls:
        if item["name"] not in apps:
            text = f"Service container with '{item['name']}' not found."
            return Reply(422, {"message": text, "errors": {"urls": [text]}})
    seen: set[str] = set()
    for item in urls:
        for part in (item.get("url") or "").split(","):
            part = part.strip()
            parsed = urlsplit(part)
            if part and (parsed.scheme not in ("http", "https") or not parsed.hostname):
                return validation_failed({"urls": [f"Invalid URL: {part}"]})
            host = parsed.hostname or ""
            if host and host in seen and not force:
                return validation_failed({"urls": [f"The domain {host} is duplicated in the request."]})
            seen.add(host)
    conflicts = [] if force else _conflicts(state, service, seen)
    if conflicts:
        return message(409, CONFLICT_MESSAGE, warning=CONFLICT_WARNING, conflicts=conflicts)
    for item in urls:
        apps[item["name"]].fqdn = item.get("url") or None
    return None


def _conflicts(state: CoolifyState, service: Service, hosts: set[str]) -> list[dict[str, Any]]:
    found = []
    for other in state.services.values():
        if other is service:
            continue
        for app in other.applications:
            for host in _hosts(app.fqdn):
                if host and host in hosts:
                    found.append(
                        {
                            "domain": host,
                            "resource_name": other.name,
                            "resource_uuid": other.uuid,
                            "resource_type": "service",
                            "message": f"Domain {host} is already in use by service '{other.name}'",
                        }
                    )
    return found
