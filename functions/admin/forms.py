"""The provision form, generated from a template's typed parameters, and what a submitted form means.

Each parameter becomes one field whose kind follows its type; a secret parameter is a password field that
is never filled in by the server (not even after an error). A blank field means "not given": provisioning
then keeps the stack's stored value or the template's default, exactly as ``cfa provision`` without that
``--param``; the operation's own validation decides everything else.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.catalog import ParamSpec, Template
from shared.params import describe_format

STACK_FIELD = "stack_name"
PARAM_PREFIX = "param."


@dataclass(frozen=True)
class Field:
    name: str  # the form field's name: "param.<parameter>"
    label: str
    kind: str  # input, number, password, textarea, select
    description: str
    format: str
    required: bool
    choices: list[str]
    value: str  # what to show (never for a password field)
    placeholder: str


def _default_text(spec: ParamSpec) -> str:
    if spec.default is None:
        return ""
    if isinstance(spec.default, bool):
        return "true" if spec.default else "false"
    if isinstance(spec.default, list):
        return json.dumps(spec.default) if spec.type == "schedules" else ", ".join(map(str, spec.default))
    return str(spec.default)


def _kind(spec: ParamSpec) -> tuple[str, list[str]]:
    if spec.secret:
        return "password", []
    if spec.type in ("text", "schedules"):
        return "textarea", []
    if spec.type == "integer":
        return "number", []
    if spec.type == "enum":
        return "select", list(spec.values or [])
    if spec.type == "boolean":
        return "select", ["true", "false"]
    return "input", []


def fields(
    template: Template, submitted: Mapping[str, str] | None = None, *, secrets_only: bool = False
) -> list[Field]:
    """The form's fields in the template's order; ``submitted`` refills the non-secret ones.
    ``secrets_only``: only the secret parameters (the rotate form)."""
    result = []
    for spec in template.meta.parameters:
        if secrets_only and not spec.secret:
            continue
        kind, choices = _kind(spec)
        name = PARAM_PREFIX + spec.name
        value = "" if spec.secret or submitted is None else str(submitted.get(name, ""))
        default = _default_text(spec)
        result.append(
            Field(
                name=name,
                label=spec.name,
                kind=kind,
                description=spec.description,
                format=describe_format(spec),
                required=spec.required,
                choices=choices,
                value=value,
                placeholder=f"default: {default}" if default else "",
            )
        )
    return result


def params_from(template: Template, form: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters a submitted form gives: its non-blank ``param.*`` fields, as text (the
    template's validation converts and checks them). Fields the template does not have are ignored
    here and cannot reach the operation."""
    known = {spec.name for spec in template.meta.parameters}
    params: dict[str, Any] = {}
    for key, raw in form.items():
        if not key.startswith(PARAM_PREFIX):
            continue
        name = key.removeprefix(PARAM_PREFIX)
        value = str(raw)
        if name in known and value.strip():
            # Browsers send CRLF for textareas; a prompt is stored with plain newlines.
            params[name] = value.replace("\r\n", "\n")
    return params
