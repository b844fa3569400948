"""Render a stack template into the compose document Coolify receives.

Jinja2 runs sandboxed with StrictUndefined, and every ``{{ expression }}`` is emitted as one complete,
double-quoted YAML scalar (JSON is YAML) with ``$`` doubled for Docker Compose: a value can never add
structure, close its quotes or trigger interpolation. Templates therefore build whole values inside
the braces (``{{ "https://" ~ public.host }}``), never splice text around them.

That protects the YAML and Compose, not the environment values from Coolify's service parser, which
reads a value starting with ``$``, any ``{{team.X}}`` and any ``$SERVICE_…`` itself. Free text goes
through the ``b64`` filter (UTF-8 text as base64) and structured values through ``b64json`` (compact
JSON, keys sorted, as base64): base64 has no character that Coolify, YAML or Compose would touch, and the
consumer decodes it (templates/README.md).

The result is parsed back, the standard ``cf.*`` labels are set on every service, and the document is
checked against the hardening policy, the Compose JSON schema and, when a Compose v2 binary is given,
Compose's own loader (``shared.compose_loader``). Same inputs give byte-identical output.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import yaml
from jinja2 import StrictUndefined, Undefined
from jinja2 import Template as JinjaTemplate
from jinja2 import TemplateError as JinjaError
from jinja2.sandbox import SandboxedEnvironment

from shared.catalog import Template
from shared.compose_loader import ComposeLoader
from shared.compose_schema import schema_errors
from shared.coolify.models import ServiceUrl
from shared.errors import ConfigurationError, TemplateError
from shared.naming import public_host
from shared.params import ValidatedParams
from shared.plans import Plan
from shared.policy import check_policy


def _escape_dollars(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, list | tuple):
        return [_escape_dollars(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _escape_dollars(item) for key, item in value.items()}
    return value


# Outside YAML's printable set, or a line break YAML would fold (U+0085, U+2028, U+2029), or a BOM.
_NEEDS_ESCAPE = re.compile(
    "[^\t\n\r\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]|[\u2028\u2029\ufeff]"
)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def yaml_scalar(value: Any) -> str:
    """One value as a YAML flow scalar/collection that cannot break out of its position.

    JSON is YAML; JSON escapes quotes, backslashes and control characters, and the few characters
    YAML treats differently from JSON are escaped on top (astral characters stay literal, because
    YAML has no surrogate-pair escapes).
    """
    if isinstance(value, Undefined):
        str(value)  # StrictUndefined raises UndefinedError here, naming the missing variable
    if value is None:
        raise TemplateError("(render)", ["a template expression produced None; give the parameter a default"])
    try:
        text = json.dumps(_escape_dollars(value), ensure_ascii=False, sort_keys=True)
    except TypeError as err:
        raise TemplateError("(render)", [f"a template expression produced a {type(value).__name__}"]) from err
    return _NEEDS_ESCAPE.sub(_escape, text)


# libyaml is ~10x faster than the pure-Python YAML code; the output of a given build is deterministic.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def b64(value: Any) -> str:
    """Jinja filter ``b64``: a text parameter as base64 of its UTF-8 bytes (decoded by the consumer)."""
    if isinstance(value, Undefined):
        str(value)  # StrictUndefined raises UndefinedError here, naming the missing variable
    if not isinstance(value, str):
        raise TemplateError("(render)", [f"b64 takes text, got a {type(value).__name__}; use b64json"])
    return base64.b64encode(value.encode("utf-8")).decode("ascii")


def b64json(value: Any) -> str:
    """Jinja filter ``b64json``: any JSON value as base64 of its compact, key-sorted UTF-8 JSON."""
    if isinstance(value, Undefined):
        str(value)
    try:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    except TypeError as err:
        raise TemplateError("(render)", [f"b64json cannot encode a {type(value).__name__}"]) from err
    return b64(text)


@lru_cache(maxsize=1)
def _environment() -> SandboxedEnvironment:
    environment = SandboxedEnvironment(
        undefined=StrictUndefined,
        finalize=yaml_scalar,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["b64"] = b64
    environment.filters["b64json"] = b64json
    return environment


@lru_cache(maxsize=64)
def _compiled(source: str) -> JinjaTemplate:
    return _environment().from_string(source)


@dataclass(frozen=True)
class RenderedStack:
    compose_yaml: str
    compose: dict[str, Any]
    sha256: str
    urls: list[ServiceUrl]
    fqdn: str | None
    loader: str = ""  # the Compose that loaded it ("Docker Compose v2.40.3"), or "" when none checked it


def _context(
    template: Template,
    *,
    tenant: str,
    plan: Plan,
    stack: str,
    params: ValidatedParams,
    base_domain: str | None,
    router_url: str | None,
) -> dict[str, Any]:
    profile = template.profile(plan.name)
    public = None
    if template.meta.expose is not None:
        if base_domain is None:
            raise ConfigurationError(
                f"template {template.name} serves a public URL but CFA_BASE_DOMAIN is not set",
                advice="set CFA_BASE_DOMAIN, e.g. agents.example.com (wildcard DNS pointing at Coolify)",
            )
        host = public_host(tenant, stack, base_domain)
        public = {"host": host, "url": f"https://{host}", "port": template.meta.expose.port}
    if template.meta.needs_router and router_url is None:
        raise ConfigurationError(
            f"template {template.name} talks to the CloudFreedom Router but CFA_ROUTER_URL is not set",
            advice="set CFA_ROUTER_URL to the Router's OpenAI-compatible base URL (https://router.example.com/v1)",
        )
    return {
        "tenant": {"slug": tenant, "plan": plan.name},
        "stack": {"name": stack},
        "template": {"name": template.name, "version": template.meta.version},
        "params": dict(params.public),
        "limits": {
            name: {
                "cpus": limits.cpus,
                "memory": limits.memory,
                "memory_mib": limits.memory_bytes // 2**20,  # for values derived from the limit (heap sizes)
                "pids": limits.pids,
            }
            for name, limits in profile.services.items()
        },
        "volume_budget": profile.volume_budget,
        "public": public,
        "router_url": router_url.rstrip("/") if router_url else None,
    }


def _set_labels(compose: dict[str, Any], labels: dict[str, str], template: str) -> None:
    for name, service in (compose.get("services") or {}).items():
        if not isinstance(service, dict):
            continue
        current = service.get("labels") or {}
        if isinstance(current, list):
            current = dict(str(item).split("=", 1) for item in current)
        clashes = sorted(set(current) & set(labels))
        if clashes:
            raise TemplateError(
                template, [f"{name}: sets {', '.join(clashes)} itself; the renderer owns cf.*"]
            )
        service["labels"] = {**current, **labels}


def render_stack(
    template: Template,
    *,
    tenant: str,
    plan: Plan,
    stack: str,
    params: ValidatedParams,
    base_domain: str | None,
    router_url: str | None,
    secret_values: list[str] | None = None,
    loader: ComposeLoader | None = None,
) -> RenderedStack:
    """Render, label, and check ``template`` for one tenant's stack. Raises TemplateError on any problem.

    ``secret_values`` are values that must not appear in the output (a last check that no secret was
    ever written into a compose file). ``loader``: Compose v2, whose loader must accept the result
    (``RenderedStack.loader`` then names it); without one that check is skipped.
    """
    context = _context(
        template,
        tenant=tenant,
        plan=plan,
        stack=stack,
        params=params,
        base_domain=base_domain,
        router_url=router_url,
    )
    try:
        text = _compiled(template.compose_source).render(context)
    except JinjaError as err:
        raise TemplateError(template.name, [f"compose.yml.j2: {err}"]) from err
    try:
        compose = yaml.load(text, Loader=_Loader)  # noqa: S506 - a safe loader (C or Python)
    except yaml.YAMLError as err:
        raise TemplateError(template.name, [f"rendered compose is not valid YAML: {err}"]) from err
    if not isinstance(compose, dict):
        raise TemplateError(template.name, ["rendered compose is not a mapping"])
    _set_labels(
        compose,
        {
            "cf.managed": "true",
            "cf.tenant": tenant,
            "cf.stack": stack,
            "cf.template": template.name,
            "cf.plan": plan.name,
        },
        template.name,
    )
    problems = check_policy(compose, template, template.profile(plan.name))
    problems += [f"schema: {e}" for e in schema_errors(compose)]
    compose_yaml = yaml.dump(compose, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=10_000)
    leaked = [v for v in secret_values or [] if v and v in compose_yaml]
    if leaked:
        problems.append(f"{len(leaked)} secret value(s) appear in the rendered compose")
    if loader is not None and not problems:
        problems += loader.problems(compose_yaml)
    if problems:
        raise TemplateError(template.name, problems)
    urls: list[ServiceUrl] = []
    fqdn = None
    if context["public"] is not None and template.meta.expose is not None:
        fqdn = str(context["public"]["url"])
        urls = [ServiceUrl(name=template.meta.expose.service, url=f"{fqdn}:{template.meta.expose.port}")]
    digest = hashlib.sha256(compose_yaml.encode()).hexdigest()
    return RenderedStack(
        compose_yaml=compose_yaml,
        compose=compose,
        sha256=digest,
        urls=urls,
        fqdn=fqdn,
        loader=loader.label if loader is not None else "",
    )


async def loaded_by_compose(
    template: Template, rendered: RenderedStack, loader: ComposeLoader | None
) -> RenderedStack:
    """``rendered`` once Compose's loader accepted it (without blocking the event loop); TemplateError
    with Compose's words if it refuses. Without a loader, ``rendered`` unchanged (``loader`` empty)."""
    if loader is None:
        return rendered
    problems = await loader.check(rendered.compose_yaml)
    if problems:
        raise TemplateError(template.name, problems)
    return dataclasses.replace(rendered, loader=loader.label)
