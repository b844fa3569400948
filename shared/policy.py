"""The hardening policy every rendered stack must meet before it is sent to Coolify.

Each rule is a small function over one compose service (or the whole document) that returns the
problems it finds as sentences. ``check_policy`` runs them all; an empty list means the stack passes.
Exceptions exist only where the template declares them with a reason (a root user, today).

Resource limits live at service level: ``cpus``, ``mem_limit`` and ``pids_limit``, and no ``deploy``
block. Docker Compose 2.26 and later refuse a service-level ``pids_limit`` next to a
``deploy.resources.limits`` block without ``pids`` ("can't set distinct values on 'pids_limit' and
'deploy.resources.limits.pids'"), which broke every render on a current Coolify host. Of the two
layouts Compose v2.40 accepts, the service-level one is the only one every Compose (v1 included)
loads and applies the same way (PidsLimit, Memory and NanoCpus, as ``docker inspect`` shows), and
Coolify's service parser passes these keys through unchanged (``collect($service)->merge(...)`` in
``serviceParser``: ``../shared/reference/coolify-api.md`` §11.3, §15). Every render is also loaded by a
real Compose v2 (``shared.compose_loader``) when one is available.

Environment values are the one place that parser rewrites (§15): a value starting with ``$`` (other
than a plain ``${NAME}`` reference), any ``{{…}}`` and any ``$SERVICE_…`` are refused, so a render
Coolify would change, or answer with a 500, is never sent.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from shared.catalog import PlanProfile, ServiceLimits, Template, parse_size
from shared.params import ROLLING_TAGS

STANDARD_LABELS = ("cf.managed", "cf.tenant", "cf.stack", "cf.template", "cf.plan")
_FORBIDDEN_KEYS = {
    "ports": "publishes host ports (bypasses Traefik and the firewall); expose through Coolify URLs",
    "build": "needs a build; Coolify cannot build from this repository for a raw compose service",
    "devices": "maps host devices",
    "volumes_from": "shares another container's volumes",
    "cap_add": "adds Linux capabilities",
    "sysctls": "changes kernel parameters",
    "extra_hosts": "rewrites name resolution",
    "external_links": "links containers outside the stack",
    "cgroup_parent": "moves the container into a host cgroup",
}
_HOST_NAMESPACE_KEYS = ("network_mode", "pid", "ipc", "userns_mode", "uts", "cgroup")
_ROOT_USERS = {"0", "root"}

Service = dict[str, Any]
Rule = Callable[[str, Service, Template, PlanProfile], list[str]]


def _image_pinned(name: str, service: Service, _t: Template, _p: PlanProfile) -> list[str]:
    image = str(service.get("image", ""))
    if not image:
        return [f"{name}: has no image"]
    if "@sha256:" in image:
        return []
    last = image.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else None
    if tag is None or tag in ROLLING_TAGS:
        return [f"{name}: image {image} is not pinned to a version tag or digest"]
    return []


def _forbidden_keys(name: str, service: Service, _t: Template, _p: PlanProfile) -> list[str]:
    return [f"{name}: `{key}` {why}" for key, why in _FORBIDDEN_KEYS.items() if key in service]


def _no_privilege(name: str, service: Service, _t: Template, _p: PlanProfile) -> list[str]:
    problems = []
    if service.get("privileged"):
        problems.append(f"{name}: runs privileged")
    for key in _HOST_NAMESPACE_KEYS:
        value = str(service.get(key, ""))
        if value == "host" or value.startswith(("container:", "service:")):
            problems.append(f"{name}: {key}: {value} shares a namespace outside the stack")
    drops = [str(c).upper() for c in service.get("cap_drop", [])]
    if "ALL" not in drops:
        problems.append(f"{name}: cap_drop must contain ALL")
    options = [str(o).replace("=", ":").replace(" ", "") for o in service.get("security_opt", [])]
    if not any(o in ("no-new-privileges:true", "no-new-privileges") for o in options):
        problems.append(f"{name}: security_opt must contain no-new-privileges:true")
    if any(o.endswith(":unconfined") for o in options):
        problems.append(f"{name}: security_opt turns off seccomp/apparmor")
    return problems


def _mounts(name: str, service: Service, _t: Template, _p: PlanProfile) -> list[str]:
    problems = []
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source = volume.split(":", 1)[0] if ":" in volume else ""
            kind = "bind" if source.startswith(("/", ".", "~", "$")) else "volume"
        else:
            source, kind = str(volume.get("source", "")), str(volume.get("type", ""))
        if "docker.sock" in source or "docker.sock" in str(volume):
            problems.append(f"{name}: mounts the Docker socket")
        elif kind == "bind":
            problems.append(f"{name}: bind-mounts host path {source}; use a named volume")
        elif kind not in ("volume", "tmpfs"):
            problems.append(f"{name}: unsupported mount type {kind!r}")
    return problems


def _user(name: str, service: Service, template: Template, _p: PlanProfile) -> list[str]:
    spec = template.meta.services.get(name)
    user = str(service.get("user", "")).strip()
    uid = user.split(":", 1)[0]
    if user and uid not in _ROOT_USERS:
        return []
    if spec and spec.root_exception:
        return []
    return [f"{name}: must run as a non-root `user:` (or declare root_exception with a reason)"]


def _healthcheck(name: str, service: Service, template: Template, _p: PlanProfile) -> list[str]:
    spec = template.meta.services.get(name)
    if spec and spec.role == "init":
        if str(service.get("restart", "")) != "no":
            return [f'{name}: a one-shot init service needs restart: "no"']
        return []
    check = service.get("healthcheck")
    if not isinstance(check, dict) or check.get("disable") or check.get("test") in (None, ["NONE"], "NONE"):
        return [f"{name}: has no healthcheck"]
    return []


# Keys that would set a second, conflicting limit, or lift the plan's (swap, OOM kill).
_OTHER_LIMIT_KEYS = (
    "memswap_limit",
    "cpu_quota",
    "cpu_period",
    "cpu_count",
    "cpu_percent",
    "oom_kill_disable",
)


def _limits(name: str, service: Service, _t: Template, profile: PlanProfile) -> list[str]:
    wanted: ServiceLimits | None = profile.services.get(name)
    if wanted is None:
        return [f"{name}: the plan's profile has no limits for this service"]
    problems = []
    if "deploy" in service:
        problems.append(
            f"{name}: `deploy` is not allowed; limits are the service-level cpus, mem_limit and pids_limit"
            " (Compose >= 2.26 refuses pids_limit next to deploy.resources.limits)"
        )
    cpus, memory = service.get("cpus"), service.get("mem_limit")
    try:
        cpus_ok = cpus is not None and float(cpus) == wanted.cpus
    except (TypeError, ValueError):
        cpus_ok = False
    if not cpus_ok:
        problems.append(f"{name}: cpus is {cpus}, the plan says {wanted.cpus}")
    try:
        memory_ok = memory is not None and parse_size(memory) == wanted.memory_bytes
    except (AttributeError, ValueError):
        memory_ok = False
    if not memory_ok:
        problems.append(f"{name}: mem_limit is {memory}, the plan says {wanted.memory}")
    if service.get("pids_limit") != wanted.pids:
        problems.append(f"{name}: pids_limit is {service.get('pids_limit')}, the plan says {wanted.pids}")
    for key in _OTHER_LIMIT_KEYS:
        if key in service:
            problems.append(f"{name}: `{key}` is not allowed; the plan's cpus, mem_limit, pids_limit apply")
    return problems


def _logging(name: str, service: Service, _t: Template, _p: PlanProfile) -> list[str]:
    logging = service.get("logging") or {}
    options = logging.get("options") or {}
    if (
        logging.get("driver") not in ("json-file", "local")
        or "max-size" not in options
        or "max-file" not in options
    ):
        return [f"{name}: logging must rotate (json-file or local with max-size and max-file)"]
    return []


def _labels(name: str, service: Service, _t: Template, _p: PlanProfile) -> list[str]:
    labels = service.get("labels") or {}
    if isinstance(labels, list):
        labels = dict(str(item).split("=", 1) for item in labels)
    problems = [f"{name}: label {label} is missing" for label in STANDARD_LABELS if label not in labels]
    problems += [
        f"{name}: label {label} is reserved for Coolify/Traefik"
        for label in labels
        if label.startswith(("traefik.", "coolify."))
    ]
    return problems


# Coolify's magic-variable scan (parsers.php): `$NAME` or `${NAME` anywhere in a value, `$$` included.
_MAGIC = re.compile(r"\$\{?SERVICE_")
_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _environment(name: str, service: Service, _t: Template, _p: PlanProfile) -> list[str]:
    """Environment values Coolify's service parser would rewrite (../shared/reference/coolify-api.md §15)."""
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(str(e).partition("=")[::2] for e in environment)
    problems = []
    for key, raw in environment.items():
        where, value = f"{name}: {key}", "" if raw is None else str(raw)
        if str(key).startswith(("SERVICE_URL_", "SERVICE_FQDN_")):
            problems.append(
                f"{where} would make Coolify generate a (plain http) domain; public URLs come from `urls`"
            )
        elif str(key).startswith(("SERVICE_", "COOLIFY_")):
            problems.append(f"{where}: SERVICE_* and COOLIFY_* variables are Coolify's own")
        reference = _REFERENCE.fullmatch(value)
        if value.startswith("$") and reference is None:
            problems.append(
                f"{where}: Coolify reads a value starting with $ as a variable (rewritten, or a 500 after"
                " saving); reference a secret as ${NAME}, carry text with | b64"
            )
        if "{{" in value:
            problems.append(
                f"{where}: Coolify replaces {{{{…}}}} with the team's shared variables; use | b64"
            )
        if _MAGIC.search(value):
            problems.append(f"{where}: $SERVICE_… makes Coolify create variables and domains; use | b64")
    return problems


SERVICE_RULES: tuple[Rule, ...] = (
    _image_pinned,
    _forbidden_keys,
    _no_privilege,
    _mounts,
    _user,
    _healthcheck,
    _limits,
    _logging,
    _labels,
    _environment,
)


def check_policy(compose: dict[str, Any], template: Template, profile: PlanProfile) -> list[str]:
    """All policy problems of a rendered compose document for ``template`` on a plan's ``profile``."""
    services = compose.get("services")
    if not isinstance(services, dict) or not services:
        return ["the compose file has no services"]
    problems = []
    declared, rendered = set(template.meta.services), set(services)
    required = {name for name, spec in template.meta.services.items() if not spec.optional}
    if not required <= rendered <= declared:
        problems.append(
            f"services {sorted(rendered)} differ from template.yaml's {sorted(declared)}"
            f" (optional: {sorted(declared - required)})"
        )
    for name, service in services.items():
        if not isinstance(service, dict):
            problems.append(f"{name}: is not a mapping")
            continue
        for rule in SERVICE_RULES:
            problems.extend(rule(str(name), service, template, profile))
    for volume_name, volume in (compose.get("volumes") or {}).items():
        if isinstance(volume, dict) and (volume.get("driver_opts") or volume.get("external")):
            problems.append(
                f"volume {volume_name}: driver_opts/external could reach host paths or other stacks"
            )
    if compose.get("networks"):
        problems.append("top-level networks: Coolify gives each stack its own network; declare none")
    return problems
