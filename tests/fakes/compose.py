"""What the Coolify fake does with ``docker_compose_raw``: decode, validate, and read it like the parser.

Reference ``coolify-api.md`` §5.1 (strict base64, top-level ``services:`` map, shell-safe names),
§5.2 (applications vs databases), §11.1 (magic ``SERVICE_*`` variables) and §11.2 (volume naming).
Everything here is pure: no state, no I/O.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import string
from dataclasses import dataclass
from typing import Any

import yaml

BASE64_ERROR = "The docker_compose_raw should be base64 encoded."

# Images Coolify's ``isDatabaseImage`` recognises (a subset of DATABASE_DOCKER_IMAGES): services using
# them become ServiceDatabase rows (``databases[]``) and cannot take a URL.
DATABASE_IMAGES = frozenset(
    {
        "postgres",
        "postgis/postgis",
        "timescale/timescaledb",
        "bitnami/postgresql",
        "supabase/postgres",
        "mysql",
        "bitnami/mysql",
        "mariadb",
        "bitnami/mariadb",
        "mongo",
        "bitnami/mongodb",
        "redis",
        "bitnami/redis",
        "valkey/valkey",
        "eqalpha/keydb",
        "docker.dragonflydb.io/dragonflydb/dragonfly",
        "clickhouse/clickhouse-server",
        "bitnami/clickhouse",
    }
)
_FORBIDDEN = ("`", "$(", "${", "|", "&", ";", "<", ">", "\t", "\n")
_ALLOWED_VAR_SOURCE = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}(/.*)?$")


class ComposeError(ValueError):
    """The compose was refused; ``str(err)`` is what goes under ``errors.docker_compose_raw``."""


@dataclass(frozen=True)
class SubService:
    """One compose service as the parser sees it."""

    name: str
    image: str | None
    is_database: bool


@dataclass(frozen=True)
class Compose:
    """A decoded, validated compose file."""

    raw_base64: str
    text: str
    document: dict[str, Any]

    @property
    def services(self) -> dict[str, Any]:
        services: dict[str, Any] = self.document["services"]
        return services

    def sub_services(self) -> list[SubService]:
        """Compose services in file order, each flagged as database or application."""
        result = []
        for name, spec in self.services.items():
            image = spec.get("image") if isinstance(spec, dict) else None
            image_str = image if isinstance(image, str) else None
            result.append(SubService(str(name), image_str, is_database_image(image_str)))
        return result

    def named_volumes(self) -> list[str]:
        """Named volumes the stack uses, by compose name (Coolify prefixes them with the service uuid)."""
        names: list[str] = list((self.document.get("volumes") or {}).keys())
        for spec in self.services.values():
            for entry in (spec.get("volumes") or []) if isinstance(spec, dict) else []:
                source = _volume_source(entry)
                if source and not source.startswith(("/", ".", "~", "$")) and source not in names:
                    names.append(source)
        return names


def decode_compose(raw: object) -> Compose:
    """Decode ``docker_compose_raw`` exactly as strictly as Coolify; raise :class:`ComposeError` if refused.

    ``base64_encode(base64_decode($v, true)) === $v`` must hold (so no URL-safe alphabet, no line
    wrapping, padding required), the bytes must be UTF-8, the YAML must have a ``services:`` map, and
    service names and volume paths must be shell-safe.
    """
    if not isinstance(raw, str):
        raise ComposeError(BASE64_ERROR)
    try:
        decoded = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise ComposeError(BASE64_ERROR) from None
    if base64.b64encode(decoded).decode("ascii") != raw:
        raise ComposeError(BASE64_ERROR)
    try:
        text = decoded.decode("utf-8")
    except UnicodeDecodeError:
        raise ComposeError(BASE64_ERROR) from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ComposeError(f"Invalid YAML format: {exc}") from None
    # The reference names the rule (a top-level ``services:`` map) but not the message; this one is ours.
    if not isinstance(document, dict) or not isinstance(document.get("services"), dict):
        raise ComposeError("The docker compose file must contain a 'services' section.")
    if not document["services"]:
        raise ComposeError("The docker compose file must contain at least one service.")
    _check_shell_safety(document["services"])
    return Compose(raw, text, document)


def is_database_image(image: str | None) -> bool:
    """Whether Coolify would file a compose service with this image under ``databases[]``."""
    if not image:
        return False
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    for prefix in ("docker.io/", "library/"):
        name = name.removeprefix(prefix)
    return name in DATABASE_IMAGES


def _split_short_volume(entry: str) -> list[str]:
    """Split ``source:target[:mode]`` on colons that are not inside ``${...}``."""
    parts, current, depth = [], "", 0
    for char in entry:
        depth += char == "{"
        depth -= char == "}" and depth > 0
        if char == ":" and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return [*parts, current]


def _volume_source(entry: object) -> str | None:
    if isinstance(entry, str):
        parts = _split_short_volume(entry)
        return parts[0] if len(parts) > 1 else None
    if isinstance(entry, dict) and entry.get("type", "volume") == "volume":
        source = entry.get("source")
        return source if isinstance(source, str) else None
    return None


def _volume_paths(entry: object) -> list[str]:
    if isinstance(entry, str):
        return _split_short_volume(entry)[:2]
    if isinstance(entry, dict):
        return [str(entry[k]) for k in ("source", "target") if entry.get(k) is not None]
    return []


def _check_shell_safety(services: dict[str, Any]) -> None:
    """``validateDockerComposeForInjection``: no shell metacharacters in service names or volume paths."""
    for name, spec in services.items():
        if any(bad in str(name) for bad in _FORBIDDEN):
            raise ComposeError(
                f"Invalid Docker Compose service name '{name}': contains forbidden characters."
            )
        volumes = spec.get("volumes") if isinstance(spec, dict) else None
        for entry in volumes or []:
            for path in _volume_paths(entry):
                if _ALLOWED_VAR_SOURCE.match(path):
                    continue
                if any(bad in path for bad in _FORBIDDEN):
                    raise ComposeError(f"Invalid volume path '{path}' in service '{name}'.")


def generate_value(key: str) -> str | None:
    """The value Coolify generates for a ``SERVICE_<GENERATOR>_<ID>`` key, or ``None`` if not a generator."""
    alnum = string.ascii_letters + string.digits
    table: list[tuple[str, Any]] = [
        ("SERVICE_PASSWORDWITHSYMBOLS_64_", lambda: _random(alnum + "!@#$%^&*", 64)),
        ("SERVICE_PASSWORDWITHSYMBOLS_", lambda: _random(alnum + "!@#$%^&*", 32)),
        ("SERVICE_PASSWORD_64_", lambda: _random(alnum, 64)),
        ("SERVICE_PASSWORD_", lambda: _random(alnum, 32)),
        ("SERVICE_LOWERCASEUSER_", lambda: _random(string.ascii_lowercase + string.digits, 16)),
        ("SERVICE_USER_", lambda: _random(alnum, 16)),
        ("SERVICE_REALBASE64_128_", lambda: base64.b64encode(secrets.token_bytes(128)).decode()),
        ("SERVICE_REALBASE64_64_", lambda: base64.b64encode(secrets.token_bytes(64)).decode()),
        ("SERVICE_REALBASE64_", lambda: base64.b64encode(secrets.token_bytes(32)).decode()),
        ("SERVICE_BASE64_128_", lambda: _random(alnum, 128)),
        ("SERVICE_BASE64_64_", lambda: _random(alnum, 64)),
        ("SERVICE_BASE64_", lambda: _random(alnum, 32)),
        ("SERVICE_HEX_128_", lambda: secrets.token_hex(64)),
        ("SERVICE_HEX_64_", lambda: secrets.token_hex(32)),
        ("SERVICE_HEX_32_", lambda: secrets.token_hex(16)),
    ]
    for prefix, make in table:
        if key.startswith(prefix):
            value: str = make()
            return value
    return None


def _random(alphabet: str, length: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def encode_compose(text: str) -> str:
    """The one correct way to encode a compose for Coolify (standard alphabet, padded, unwrapped)."""
    return base64.b64encode(text.encode("utf-8")).decode("ascii")
