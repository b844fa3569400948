"""The ``.env`` Coolify writes next to a service's compose at every start (``Service::saveComposeConfigs``).

One ``SERVICE_NAME_<SVC>=<svc>`` line per compose service, then every variable as ``KEY=<real_value>``
(``SERVICE_*`` keys first, then values starting with ``$SERVICE_``, then the rest), where the real value
(``EnvironmentVariable::realValue``, v4.3.10) is the stored (trimmed) value with ``{{team.X}}``,
``{{project.X}}``, ``{{environment.X}}`` and ``{{server.X}}`` replaced by shared variables, and then:

- a JSON object or array: written raw (unquoted, so Compose interpolates it);
- ``is_literal`` or ``is_multiline``: wrapped in single quotes **without escaping** (a ``'`` breaks it);
- otherwise: ``\\``, CR, tab, NUL, ``"`` and ``'`` backslash-escaped, unquoted, ``$`` left as is.
"""

from __future__ import annotations

import json

from tests.fakes.coolify_envparse import resolve_shared
from tests.fakes.coolify_state import EnvVar, Service

DOTENV_SHARED_TYPES = ("team", "project", "environment", "server")
_ESCAPES = str.maketrans({"\\": "\\\\", "\r": "\\r", "\t": "\\t", "\0": "\\0", '"': '\\"', "'": "\\'"})


def real_value(env: EnvVar, shared: dict[str, dict[str, str]]) -> str:
    """What follows ``KEY=`` in ``.env`` for this variable."""
    value = env.value
    if value:
        value = resolve_shared(value, shared, DOTENV_SHARED_TYPES)
    text = value or ""
    if text[:1] in ("{", "[") and _is_json(text):
        return text
    if env.is_literal or env.is_multiline:
        return f"'{text}'"
    return text.translate(_ESCAPES)


def _is_json(text: str) -> bool:
    try:
        json.loads(text, parse_constant=_refuse)
    except ValueError:
        return False
    return True


def _refuse(name: str) -> None:
    raise ValueError(name)  # NaN and Infinity are not JSON for PHP


def render_dotenv(service: Service, compose_services: list[str], shared: dict[str, dict[str, str]]) -> str:
    """The whole ``.env`` file for ``service`` whose deployed compose has ``compose_services``."""
    lines = [
        f"SERVICE_NAME_{name.replace('-', '_').replace('.', '_').upper()}={name}" for name in compose_services
    ]
    ordered = sorted(service.envs, key=_order)
    lines += [f"{env.key}={real_value(env, shared)}" for env in ordered]
    return "\n".join(lines)


def _order(env: EnvVar) -> int:
    if env.key.startswith("SERVICE_"):
        return 1
    if (env.value or "").startswith(("$SERVICE_", "${SERVICE_")):
        return 2
    return 3
