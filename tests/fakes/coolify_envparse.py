"""How Coolify's ``serviceParser`` rewrites environment values (v4.3.10 ``bootstrap/helpers/parsers.php``).

Reference ``coolify-api.md`` §11.1 and §15, checked against the source. For every compose service, in
the parser's order:

1. **Magic variables.** Every ``$SERVICE_…`` / ``${SERVICE_…}`` *anywhere* in a value (a doubled
   ``$$SERVICE_…`` too) and every ``SERVICE_URL_*``/``SERVICE_FQDN_*`` key becomes a Coolify variable.
   A generator name gets a generated value; a URL/FQDN one that names this compose service gives it a
   generated plain-http domain (and so Traefik labels), unless it has one.
2. **References.** Only a value that *starts with* ``$`` is read as one. ``KEY: ${KEY}`` stays as
   written. Every other one (``${VAR:?}``, ``${OTHER}`` under another key, ``$$5 a month``) creates the
   variable and writes its *stored value*, in plain text, into the deployed environment under the
   variable's own name. A variable name that is not a valid key raises :class:`ParserError`: Coolify
   answers 500, after it saved the service.
3. **Shared variables.** A value containing ``{{`` is trimmed and ``{{team.X}}``, ``{{project.X}}`` and
   ``{{environment.X}}`` are replaced by the team's shared variables. An empty value takes a stored
   variable of the same key.
4. Coolify's own ``COOLIFY_*`` and ``SERVICE_NAME_*`` entries are added, ``SERVICE_FQDN_*`` keys dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from tests.fakes.compose import generate_value
from tests.fakes.coolify_state import CoolifyState, EnvVar, Service, SubResource

# PHP's preg_match_all without /u works on bytes: \x80-\xff is any byte of a non-ASCII character.
MAGIC = re.compile(rb"\$(\{?([a-zA-Z_\x80-\xff][a-zA-Z0-9_\x80-\xff]*)\}?)")
SHARED = re.compile(r"{{(.*?)}}")
SHARED_TYPES = ("team", "project", "environment")
_VALID_KEY = re.compile(r"\A[A-Za-z_][A-Za-z0-9_.]*\Z")
_URL_KEY = re.compile(r"^SERVICE_(?:URL|FQDN)_([A-Za-z0-9_]+?)(?:_(\d+))?$")
_OPERATORS = (":-", "-", ":?", "?")
_PHP_TRIM = " \t\n\r\0\x0b"
KEY_MESSAGE = (
    "The key may only contain letters, numbers, underscores and dots, and must start with a letter or "
    "underscore."
)


class ParserError(Exception):
    """``serviceParser`` threw: the API answers 500 (the service, or its new compose, is already saved)."""


# -- the variable store --------------------------------------------------------------------------------


def first_or_create(
    state: CoolifyState, service: Service, key: str, value: str | None = None, *, required: bool = False
) -> EnvVar:
    """``environment_variables()->firstOrCreate``: the key is trimmed and validated (ParserError)."""
    key = key.strip(_PHP_TRIM)
    if not _VALID_KEY.match(key):
        raise ParserError(KEY_MESSAGE)
    env = service.env(key)
    if env is None:
        env = EnvVar(state.next_id("envs"), state.new_uuid(), key, _stored(value), is_required=required)
        service.envs.append(env)
    return env


def update_or_create(state: CoolifyState, service: Service, key: str, value: str | None) -> EnvVar:
    env = first_or_create(state, service, key, value)
    env.value = _stored(value)
    return env


def _stored(value: str | None) -> str | None:
    """Coolify trims a value when it stores it."""
    return None if value is None else value.strip(_PHP_TRIM)


# -- helpers of services.php ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Braces:
    content: str
    start: int
    end: int


def balanced(text: str, start: int = 0) -> Braces | None:
    """``extractBalancedBraceContent``: the content of the first ``{…}`` from ``start``, if balanced."""
    open_at = text.find("{", start)
    if start >= len(text) or open_at < 0:
        return None
    depth, pos = 1, open_at + 1
    while pos < len(text) and depth > 0:
        depth += {"{": 1, "}": -1}.get(text[pos], 0)
        pos += 1
    if depth != 0:
        return None
    return Braces(text[open_at + 1 : pos - 1], open_at, pos - 1)


def split_operator(content: str) -> tuple[str, str, str] | None:
    """``splitOnOperatorOutsideNested``: (variable, operator, default) at the first operator."""
    depth = 0
    for index, char in enumerate(content):
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        elif depth == 0:
            for operator in _OPERATORS:
                if content.startswith(operator, index):
                    return content[:index], operator, content[index + len(operator) :]
    return None


def replace_variables(value: str) -> str:
    """``replaceVariables``: the variable name of ``${NAME}``, ``{NAME}`` or ``$NAME`` (or the text)."""
    if value.startswith("${"):
        found = balanced(value)
        if found is not None:
            return found.content
        return _before(value, "}").replace("$", "", 1).replace("{", "", 1)
    if value.startswith("{") and value.endswith("}"):
        return value[1:-1]
    if value.startswith("{"):
        found = balanced("$" + value)
        return found.content if found is not None else _before(value.replace("{", "", 1), "}")
    if value.startswith("$"):
        return value.replace("$", "", 1)
    return value


def _before(text: str, search: str) -> str:
    return text.split(search, 1)[0]


def _after(text: str, search: str) -> str:
    return text.split(search, 1)[1] if search in text else text


def resolve_shared(value: str, shared: dict[str, dict[str, str]], types: tuple[str, ...]) -> str:
    """``resolveSharedEnvironmentVariables``: trim, then replace ``{{type.KEY}}`` found in ``shared``."""
    value = value.strip(_PHP_TRIM)
    for inner in SHARED.findall(value):
        stripped = inner.strip(_PHP_TRIM)
        kind, dot, key = stripped.partition(".")
        if not dot or kind not in types:
            continue
        found = shared.get(kind, {}).get(key)
        if found is not None:
            value = value.replace("{{" + inner + "}}", found)
    return value


# -- domains -------------------------------------------------------------------------------------------


def generated_url(service: Service, name: str) -> str:
    """``<scheme>://<name>-<uuid>.<wildcard>``, or ``http://<name>-<uuid>.<ip>.sslip.io`` without one."""
    host = f"{name.lower().replace('_', '-')}-{service.uuid}"
    wildcard = service.server.wildcard_domain
    if wildcard:
        parts = urlsplit(wildcard)
        return f"{parts.scheme or 'http'}://{host}.{parts.hostname}"
    ip = "127.0.0.1" if service.server.ip == "host.docker.internal" else service.server.ip
    return f"http://{host}.{ip}.sslip.io"


def _application(service: Service, env_name: str) -> SubResource | None:
    """``findServiceApplicationForEnvName``: the compose service an env name means (``_`` may be ``-``)."""
    wanted = {env_name.lower(), env_name.lower().replace("_", "-")}
    return next((app for app in service.applications if app.name.lower() in wanted), None)


def _declared_url_key(state: CoolifyState, service: Service, app: SubResource | None, key: str) -> None:
    """A ``SERVICE_URL_*``/``SERVICE_FQDN_*`` *key*: both pairs refreshed from this service's domain."""
    match = _URL_KEY.match(key)
    assert match is not None
    name, port = match.group(1), match.group(2)
    if app is not None and not app.fqdn:
        app.fqdn = generated_url(service, name) + (f":{port}" if port else "")
    url = (app.fqdn if app is not None and app.fqdn else generated_url(service, name)).split(",")[0].strip()
    host = urlsplit(url).hostname or ""
    scheme = urlsplit(url).scheme
    update_or_create(state, service, f"SERVICE_FQDN_{name}", host)
    update_or_create(state, service, f"SERVICE_URL_{name}", f"{scheme}://{host}")
    if port:
        update_or_create(state, service, f"SERVICE_FQDN_{name}_{port}", f"{host}:{port}")
        update_or_create(state, service, f"SERVICE_URL_{name}_{port}", f"{scheme}://{host}:{port}")


def _magic(state: CoolifyState, service: Service, app: SubResource | None, key: str) -> None:
    """A ``SERVICE_…`` name found in a value: a generated value, or a domain for the service it names."""
    for kind in ("FQDN", "URL"):
        prefix = f"SERVICE_{kind}_"
        if not key.startswith(prefix) or key.count("_") not in (2, 3):  # parseCommandFromMagicEnvVariable
            continue
        target = key.removeprefix(prefix)
        url = generated_url(service, target)
        named = _application(service, target)
        exists = service.env(key) is not None or any(
            re.fullmatch(re.escape(key) + r"_\d+", e.key) for e in service.envs
        )
        if named is not None and named is app and not exists and not _has_port(named.fqdn):
            named.fqdn = url
        first_or_create(state, service, key, urlsplit(url).hostname if kind == "FQDN" else url)
        paired_url = kind == "FQDN"
        paired = f"SERVICE_{'URL' if paired_url else 'FQDN'}_{target.upper()}"
        first_or_create(state, service, paired, url if paired_url else urlsplit(url).hostname)
        return
    first_or_create(state, service, key, generate_value(key))


def _has_port(fqdn: str | None) -> bool:
    return bool(fqdn) and bool(re.search(r":\d+$", fqdn or ""))


# -- the parser ----------------------------------------------------------------------------------------


def environment_items(environment: object) -> dict[str, Any]:
    """``convertToKeyValueCollection``: the map form of a compose ``environment``."""
    if isinstance(environment, dict):
        return {str(k): v for k, v in environment.items()}
    if isinstance(environment, list):
        items: dict[str, Any] = {}
        for entry in environment:
            key, _, value = str(entry).partition("=")
            if key:
                items[key] = value
        return items
    return {}


def parse_environments(
    state: CoolifyState, service: Service, shared: dict[str, dict[str, str]]
) -> dict[str, dict[str, Any]]:
    """The deployed ``environment`` of every compose service; creates variables and domains on the way.

    Raises :class:`ParserError` where Coolify's parser throws; what it created before stays.
    """
    assert service.compose is not None
    services = service.compose.services
    apps = {app.name: app for app in service.applications}
    all_magic: set[str] = set()
    for name, spec in services.items():  # the second loop of serviceParser: magic variables
        environment = environment_items(spec.get("environment") if isinstance(spec, dict) else None)
        found: list[str] = []
        for key, value in environment.items():
            for match in MAGIC.finditer(b"" if value is None else str(value).encode("utf-8")):
                name_found = match.group(2).decode("utf-8", errors="replace")
                if name_found.startswith("SERVICE_") and name_found not in found:
                    found.append(name_found)
            if key.startswith(("SERVICE_FQDN_", "SERVICE_URL_")) and _URL_KEY.match(key):
                _declared_url_key(state, service, apps.get(str(name)), key)
        all_magic.update(found)
        for key in found:
            _magic(state, service, apps.get(str(name)), key)
    names = {f"SERVICE_NAME_{str(n).replace('-', '_').replace('.', '_').upper()}": str(n) for n in services}
    deployed: dict[str, dict[str, Any]] = {}
    for name, spec in services.items():  # the third loop: references, Coolify's entries, shared variables
        environment = environment_items(spec.get("environment") if isinstance(spec, dict) else None)
        _references(state, service, environment, all_magic)
        app = apps.get(str(name))
        extra: dict[str, Any] = {}
        if service.env("COOLIFY_RESOURCE_UUID") is None:
            extra["COOLIFY_RESOURCE_UUID"] = service.uuid
        if service.env("COOLIFY_CONTAINER_NAME") is None:
            extra["COOLIFY_CONTAINER_NAME"] = f"{name}-{service.uuid}"
        if app is not None and app.fqdn:
            fqdns = [part.strip() for part in app.fqdn.split(",") if part.strip()]
            extra["COOLIFY_FQDN"] = ",".join(urlsplit(f).hostname or "" for f in fqdns)
            extra["COOLIFY_URL"] = ",".join(re.sub(r":\d+$", "", f) for f in fqdns)
        final = {
            key: _final_value(service, key, value, shared)
            for key, value in environment.items()
            if not key.startswith("SERVICE_FQDN_")
        }
        deployed[str(name)] = {**final, **extra, **names}
    return deployed


def _references(state: CoolifyState, service: Service, environment: dict[str, Any], magic: set[str]) -> None:
    """The parser's loop over the values that are neither magic nor ``SERVICE_…``: may add entries."""
    normal = {
        k: v for k, v in environment.items() if k not in magic and not str(v or "").startswith("SERVICE_")
    }
    for key, raw in normal.items():
        value = "" if raw is None else str(raw)
        parsed = replace_variables(value)
        if parsed.startswith("SERVICE_"):
            update_or_create(state, service, key, value)
            continue
        if not value.startswith("$") or key == parsed:
            if value.startswith("$"):
                first_or_create(state, service, key)  # KEY: ${KEY} stays a reference, resolved from .env
            continue
        found = balanced(value)
        if found is not None:
            split = split_operator(found.content)
            if split is not None:
                variable, operator, default = split
                env = first_or_create(state, service, variable, default, required="?" in operator)
                environment[variable] = env.value
                for nested in _nested_names(default):
                    created = first_or_create(state, service, nested.name, nested.default)
                    environment[nested.name] = created.value
            else:
                environment[found.content] = first_or_create(state, service, found.content).value
            continue
        _fallback(state, service, environment, value)


@dataclass(frozen=True)
class _Nested:
    name: str
    default: str | None


def _nested_names(default: str) -> list[_Nested]:
    """``${…}`` inside a default: each creates its variable too (URL/FQDN ones are the magic's)."""
    found: list[_Nested] = []
    position = 0
    while "${" in default and position < len(default):
        braces = balanced(default, position)
        if braces is None:
            break
        split = split_operator(braces.content)
        name = split[0] if split is not None else braces.content
        if not name.startswith(("SERVICE_URL_", "SERVICE_FQDN_")):
            found.append(_Nested(name, split[2] if split is not None else None))
        position = braces.end + 1
    return found


def _fallback(state: CoolifyState, service: Service, environment: dict[str, Any], value: str) -> None:
    """A ``$…`` value without balanced braces (``$$5 a month``): read as ``$NAME`` or ``$NAME-default``."""
    for operator in _OPERATORS:
        if operator in value:
            parsed = replace_variables(value)
            key = _before(parsed, operator[0] if operator.startswith(":") else operator)
            first_or_create(state, service, key, _after(parsed, operator), required="?" in operator)
            return
    name = replace_variables(value)
    environment[name] = first_or_create(state, service, name).value


def _final_value(service: Service, key: str, value: Any, shared: dict[str, dict[str, str]]) -> Any:
    if value == "":
        stored = service.env(key)
        if stored is not None and stored.value:
            value = stored.value
    if isinstance(value, str) and "{{" in value:
        value = resolve_shared(value, shared, SHARED_TYPES)
    return value
