"""The fake's ``$service->parse()`` and ``applyServiceUrls()``: sub-resources, magic envs, volumes, domains.

``parse`` runs on create, on a PATCH and on every start/restart, as in Coolify (§5.1, §5.3, §5.5).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from tests.fakes.compose import env_references, generate_value
from tests.fakes.coolify_api import Reply, message, validation_failed
from tests.fakes.coolify_state import CoolifyState, EnvVar, Service, SubResource

CONFLICT_MESSAGE = "Domain conflicts detected. Use force_domain_override=true to proceed."
CONFLICT_WARNING = (
    "Using the same domain for multiple resources can cause routing conflicts and unpredictable behavior."
)


def parse(state: CoolifyState, service: Service) -> None:
    """Sync sub-resources, named volumes and parser-made env vars with the service's compose.

    Sub-resources keep their uuid and fqdn across re-parses while the compose service name stays.
    ``SERVICE_URL_*``/``SERVICE_FQDN_*`` declared as keys are refreshed from the current fqdn; every
    other variable is created once and then left alone (``firstOrCreate``), so tests can rely on
    generated passwords staying stable.
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
    _apply_env_references(state, service)


def _apply_env_references(state: CoolifyState, service: Service) -> None:
    assert service.compose is not None
    references = env_references(service.compose)
    apps = {app.name: app for app in service.applications}
    for ref in references:  # first give every app that declares a URL variable its generated fqdn
        app = apps.get(ref.service)
        if ref.url_name and app is not None and app.fqdn is None:
            port = next((r.url_port for r in references if r.service == ref.service and r.url_port), None)
            app.fqdn = _generated_url(service, ref.url_name) + (f":{port}" if port else "")
    for ref in references:
        if ref.url_name:
            value = _url_value(service, apps.get(ref.service), ref.key, ref.url_name, ref.url_port)
        else:
            value = generate_value(ref.key) or ref.default
        env = service.env(ref.key)
        if env is None:
            service.envs.append(EnvVar(state.next_id("envs"), state.new_uuid(), ref.key, value))
        elif ref.refresh:
            env.value = value


def _generated_url(service: Service, name: str) -> str:
    """``<scheme>://<name>-<uuid>.<wildcard>``, or ``http://<name>-<uuid>.<ip>.sslip.io`` without one."""
    host = f"{name.lower().replace('_', '-')}-{service.uuid}"
    wildcard = service.server.wildcard_domain
    if wildcard:
        parts = urlsplit(wildcard)
        return f"{parts.scheme or 'http'}://{host}.{parts.hostname}"
    ip = "127.0.0.1" if service.server.ip == "host.docker.internal" else service.server.ip
    return f"http://{host}.{ip}.sslip.io"


def _url_value(service: Service, app: SubResource | None, key: str, name: str, port: str | None) -> str:
    url = (app.fqdn if app is not None and app.fqdn else _generated_url(service, name)).split(",")[0].strip()
    parts = urlsplit(url)
    host = parts.hostname or ""
    if port:
        host = f"{host}:{port}"
    return host if key.startswith("SERVICE_FQDN_") else f"{parts.scheme}://{host}"


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
