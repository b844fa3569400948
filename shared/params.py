"""Validate template parameters before anything is rendered, stored or sent.

Every value is checked against its declared type. What no type accepts, and why:

- control characters, and line breaks where one line is expected (U+2028, U+2029 and U+0085 too): a
  value must not forge lines in a config file or a log; ``text`` keeps newlines and tabs;
- Unicode bidi controls (text that displays differently from what it is) and lone surrogates (not
  text: they cannot be encoded as UTF-8).

Everything else is accepted, ``$``, ``${…}``, ``{{…}}``, ``$SERVICE_…``, quotes and backslashes
included. Such text is not dangerous in itself: the renderer never lets a value become YAML structure,
and the templates carry free text in a form that Coolify's service parser and Compose leave alone
(base64, see templates/README.md), so it arrives as typed. A value a third-party image must read as-is
is held to a ``pattern`` by its template, and the policy refuses a render in which Coolify would still
rewrite something (``shared.policy``). URLs refuse ``$``, ``{`` and ``}`` (percent-encode them).

Secret values take another path: Coolify's env API, then the ``.env`` it writes at every start, where a
value is trimmed, ``{{team.X}}`` is replaced with the team's shared variable, a JSON object or array is
written unquoted, and anything else is wrapped in single quotes *without escaping*. A secret therefore
must not contain ``'``, ``{{``, control characters or line breaks, must not end with a backslash or start or
end with a blank, and must not be a JSON object or array. A ``$`` is fine: the compose references a
secret as ``${NAME}``, which Compose resolves once from the quoted ``.env`` value.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from functools import partial
from typing import Annotated, Any
from urllib.parse import urlsplit
from weakref import WeakKeyDictionary

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, create_model

from shared import redaction
from shared.catalog import ParamSpec, Template
from shared.errors import InvalidInput

# Template and interpolation syntax: named when a value breaks its pattern, as the likely reason.
_SYNTAX = re.compile(r"\{\{|\{%|\{#|\$\{|\$\(|\$[A-Za-z_]")
_BIDI = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F)}
_LINE_BREAKS = {"\u2028", "\u2029", "\u0085"}
_IMAGE = re.compile(
    r"^(?:[a-z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(?:@sha256:[a-f0-9]{64})?$"
)
ROLLING_TAGS = frozenset({"latest", "main", "main-stable", "stable", "nightly", "dev", "edge", "master"})
_CRON_FIELD = re.compile(r"^[\d*/,\-A-Za-z]+$")
_DEFAULT_MAX = {"string": 200, "text": 4000, "url": 500, "image": 300}


@dataclass(frozen=True)
class ValidatedParams:
    """``public`` values may be stored and rendered; ``secret_env`` maps env name → secret value."""

    public: dict[str, Any] = field(default_factory=dict)
    secret_env: dict[str, str] = field(default_factory=dict)


def _fail(spec: ParamSpec, message: str, advice: str = "") -> InvalidInput:
    return InvalidInput(f"param {spec.name}", message, advice=advice or spec.description)


def check_safe_string(spec: ParamSpec, value: str, *, multiline: bool, advice: str = "") -> str:
    """Refuse control characters, line breaks (unless ``multiline``), bidi controls and surrogates."""
    for char in value:
        category = unicodedata.category(char)
        if char in ("\n", "\t") and multiline:
            continue
        if category == "Cc" or char in _LINE_BREAKS:
            name = {"\n": "a newline", "\r": "a carriage return", "\t": "a tab", "\x00": "a NUL byte"}.get(
                char, f"control character U+{ord(char):04X}"
            )
            line_advice = "use a text parameter for multi-line values" if char == "\n" else ""
            raise _fail(spec, f"contains {name}", advice or line_advice)
        if char in _BIDI:
            raise _fail(spec, f"contains the invisible direction control U+{ord(char):04X}", advice)
        if category == "Cs":
            raise _fail(spec, f"contains the lone surrogate U+{ord(char):04X}, which is not text", advice)
    return value


def check_secret_value(spec: ParamSpec, value: str) -> str:
    """Refuse what Coolify's ``.env`` cannot carry to the container unchanged (see module docstring)."""
    why = "Coolify's .env cannot carry this to the container unchanged: use a secret without it (re-issue it)"
    check_safe_string(spec, value, multiline=False, advice=why)
    if "'" in value:
        raise _fail(spec, "contains a single quote ('), which breaks Coolify's .env quoting", why)
    if "{{" in value:
        raise _fail(spec, "contains '{{', which Coolify replaces with the team's shared variables", why)
    if value != value.strip():
        raise _fail(spec, "starts or ends with a blank, which Coolify strips", why)
    if value.endswith("\\"):
        raise _fail(spec, "ends with a backslash, which escapes Coolify's closing quote", why)
    if value[:1] in ("{", "[") and _is_json(value):
        raise _fail(
            spec, "is a JSON object or array, which Coolify writes unquoted (and Compose rewrites)", why
        )
    return value


def _is_json(value: str) -> bool:
    try:
        json.loads(value)
    except ValueError:
        return False
    return True


def _length(spec: ParamSpec, value: str) -> str:
    maximum = spec.max_length or _DEFAULT_MAX.get(spec.type, 200)
    if len(value) > maximum:
        raise _fail(spec, f"is {len(value)} characters long (at most {maximum})")
    if spec.min_length is not None and len(value) < spec.min_length:
        raise _fail(spec, f"is too short (at least {spec.min_length} characters)")
    if spec.pattern and not re.fullmatch(spec.pattern, value):
        syntax = _SYNTAX.search(value)
        shown = f" (it contains {syntax.group(0)!r})" if syntax else ""
        rule = f": {spec.format}" if spec.format else ""
        raise _fail(spec, f"does not have the expected format{shown}{rule}")
    return value


def _as_list(spec: ParamSpec, raw: Any) -> list[Any]:
    if isinstance(raw, list):
        items = raw
    elif isinstance(raw, str):
        items = [part.strip() for part in raw.split(",") if part.strip()] if raw.strip() else []
    else:
        raise _fail(spec, f"must be a list, got {type(raw).__name__}")
    if spec.max_items is not None and len(items) > spec.max_items:
        raise _fail(spec, f"has {len(items)} items (at most {spec.max_items})")
    if spec.min_items is not None and len(items) < spec.min_items:
        raise _fail(spec, f"has {len(items)} items (at least {spec.min_items})")
    return items


def _integer(spec: ParamSpec, raw: Any) -> int:
    if isinstance(raw, bool):
        raise _fail(spec, "must be a whole number")
    if isinstance(raw, str) and re.fullmatch(r"-?\d{1,18}", raw.strip()):
        raw = int(raw.strip())
    if not isinstance(raw, int):
        raise _fail(spec, f"must be a whole number, got {str(raw)[:30]!r}")
    if spec.minimum is not None and raw < spec.minimum:
        raise _fail(spec, f"must be at least {spec.minimum}")
    if spec.maximum is not None and raw > spec.maximum:
        raise _fail(spec, f"must be at most {spec.maximum}")
    return raw


def _url(spec: ParamSpec, raw: str) -> str:
    value = _length(spec, check_safe_string(spec, raw, multiline=False))
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise _fail(spec, "must be an http(s) URL like https://example.com/path")
    if parts.username or parts.password:
        raise _fail(spec, "must not carry credentials", "pass credentials as secret parameters")
    if any(c in value for c in " \"'<>\\`"):
        raise _fail(spec, "contains characters that are not allowed in a URL")
    if any(c in value for c in "${}"):
        raise _fail(spec, "contains $, { or }", "percent-encode them (%24, %7B, %7D)")
    return value


def _image(spec: ParamSpec, raw: str) -> str:
    value = _length(spec, check_safe_string(spec, raw, multiline=False))
    match = _IMAGE.match(value)
    if not match:
        raise _fail(spec, f"{value!r} is not an image reference like registry.example.com/team/app:1.2.3")
    tag = match.group("tag")
    if "@sha256:" not in value and (tag is None or tag in ROLLING_TAGS):
        raise _fail(
            spec, f"{value!r} is not pinned", "pin a version tag (not latest/main) or a @sha256: digest"
        )
    return value


def _schedules(spec: ParamSpec, raw: Any) -> list[dict[str, str]]:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw) if raw.strip() else []
        except json.JSONDecodeError as err:
            raise _fail(
                spec, f"is not valid JSON ({err.msg})", 'e.g. [{"name":"daily","cron":"0 8 * * *",...}]'
            ) from err
    items = _as_list(spec, raw)
    result = []
    names: set[str] = set()
    for index, item in enumerate(items):
        if not isinstance(item, dict) or set(item) != {"name", "cron", "prompt"}:
            raise _fail(spec, f"item {index} must have exactly the keys name, cron and prompt")
        name, cron, prompt = (str(item[k]) for k in ("name", "cron", "prompt"))
        if not re.fullmatch(r"[a-z][a-z0-9-]{0,39}", name) or name in names:
            raise _fail(spec, f"item {index}: name {name[:40]!r} must be a unique lower-case slug")
        fields = cron.split()
        if len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields):
            raise _fail(spec, f"item {index}: {cron[:40]!r} is not a 5-field cron expression")
        check_safe_string(spec, prompt, multiline=True)
        if not prompt.strip() or len(prompt) > 2000:
            raise _fail(spec, f"item {index}: the prompt must be 1-2000 characters")
        names.add(name)
        result.append({"name": name, "cron": " ".join(fields), "prompt": prompt})
    return result


def _one(spec: ParamSpec, raw: Any) -> Any:
    if spec.secret and isinstance(raw, str):
        check_secret_value(spec, raw)
    return _typed(spec, raw)


def _typed(spec: ParamSpec, raw: Any) -> Any:
    if spec.type in ("string", "text"):
        if not isinstance(raw, str):
            raise _fail(spec, f"must be text, got {type(raw).__name__}")
        return _length(spec, check_safe_string(spec, raw, multiline=spec.type == "text"))
    if spec.type == "integer":
        return _integer(spec, raw)
    if spec.type == "boolean":
        if isinstance(raw, bool):
            return raw
        lowered = str(raw).strip().lower()
        if lowered in ("true", "yes", "1", "on"):
            return True
        if lowered in ("false", "no", "0", "off"):
            return False
        raise _fail(spec, f"must be true or false, got {str(raw)[:30]!r}")
    if spec.type == "enum":
        assert spec.values is not None
        if raw not in spec.values:
            raise _fail(spec, f"must be one of {', '.join(spec.values)}, got {str(raw)[:30]!r}")
        return raw
    if spec.type == "url":
        return _url(spec, raw if isinstance(raw, str) else str(raw))
    if spec.type == "image":
        return _image(spec, raw if isinstance(raw, str) else str(raw))
    if spec.type == "string_list":
        items = _as_list(spec, raw)
        return [_length(spec, check_safe_string(spec, str(item), multiline=False)) for item in items]
    if spec.type == "integer_list":
        return [_integer(spec, item) for item in _as_list(spec, raw)]
    if spec.type == "schedules":
        return _schedules(spec, raw)
    raise AssertionError(spec.type)  # pragma: no cover


_MODELS: WeakKeyDictionary[Template, type[BaseModel]] = WeakKeyDictionary()


def params_model(template: Template) -> type[BaseModel]:
    """A pydantic model of the template's parameters: each field runs the checks of this module.

    Built once per template. Fields are optional here; required-ness is checked by ``validate_params``
    because secret parameters may come from the stack's stored secrets instead.
    """
    model = _MODELS.get(template)
    if model is None:
        fields: dict[str, Any] = {
            spec.name: (Annotated[Any, BeforeValidator(partial(_one, spec))], None)
            for spec in template.meta.parameters
        }
        model = create_model(
            f"Params_{template.name.replace('-', '_')}",
            __config__=ConfigDict(extra="forbid", frozen=True),
            **fields,
        )
        _MODELS[template] = model
    return model


def validate_params(
    template: Template, raw: dict[str, Any], *, require_secrets: bool = True
) -> ValidatedParams:
    """Validate ``raw`` (CLI strings or JSON values) against ``template``'s declared parameters.

    Unknown names, missing required values and bad values each raise InvalidInput naming the
    parameter. Secret values are registered for redaction and returned separately from public ones.
    ``require_secrets=False`` is for rendering only (secrets never appear in the compose).
    """
    specs = {spec.name: spec for spec in template.meta.parameters}
    unknown = sorted(set(raw) - set(specs))
    if unknown:
        raise InvalidInput(
            f"param {unknown[0]}",
            f"template {template.name} has no parameter {unknown[0]!r}",
            advice=f"its parameters are: {', '.join(specs) or 'none'}",
        )
    for spec in specs.values():
        if spec.secret and isinstance(raw.get(spec.name), str):
            redaction.register(raw[spec.name])
    given = {name: value for name, value in raw.items() if value is not None}
    try:
        values = params_model(template).model_validate(given).model_dump()
    except ValidationError as err:  # type errors pydantic finds before our validators run
        first = err.errors()[0]
        spec = specs[str(first["loc"][0])]
        raise _fail(spec, first["msg"]) from err
    public: dict[str, Any] = {}
    secret_env: dict[str, str] = {}
    for name, spec in specs.items():
        if name not in given:
            if spec.required and (require_secrets or not spec.secret):
                raise _fail(spec, "is required", f"pass --param {name}=… ({spec.description})")
            if not spec.secret:
                public[name] = spec.default
            continue
        if spec.secret:
            assert spec.env is not None
            secret_env[spec.env] = values[name]
        else:
            public[name] = values[name]
    return ValidatedParams(public=public, secret_env=secret_env)


def check_defaults(template: Template) -> list[str]:
    """Problems with the template's own defaults (a template bug, reported at load/test time)."""
    problems = []
    for spec in template.meta.parameters:
        if spec.default is not None:
            try:
                _one(spec, spec.default)
            except InvalidInput as err:
                problems.append(f"default of {spec.name}: {err.message}")
    return problems


def describe_format(spec: ParamSpec) -> str:
    """What a value of ``spec`` must look like, for people (``cfa templates show``, errors)."""
    limit = spec.max_length or _DEFAULT_MAX.get(spec.type, 200)
    item = spec.format or f"up to {limit} characters"
    described = {
        "string": item,
        "text": spec.format or f"up to {limit} characters, several lines allowed",
        "integer": "a whole number"
        + (f" from {spec.minimum}" if spec.minimum is not None else "")
        + (f" to {spec.maximum}" if spec.maximum is not None else ""),
        "boolean": "true or false",
        "enum": "one of " + ", ".join(spec.values or []),
        "url": spec.format or "an http(s) URL without credentials",
        "image": spec.format or "an image pinned by version tag or @sha256: digest (never latest)",
        "string_list": f"comma-separated, each {item}",
        "integer_list": "comma-separated whole numbers",
        "schedules": 'JSON: [{"name": "a-slug", "cron": "0 8 * * *", "prompt": "…"}]',
    }
    text = described.get(spec.type, item)
    if spec.type in ("string_list", "integer_list", "schedules") and spec.max_items is not None:
        text += f" (at most {spec.max_items})"
    return text
