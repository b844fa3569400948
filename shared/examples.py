"""Example parameter values for a template: defaults, plus each required parameter's ``example``."""

from __future__ import annotations

from typing import Any

from shared.catalog import Template
from shared.errors import TemplateError


def example_params(template: Template, *, include_secrets: bool = True) -> dict[str, Any]:
    """Values that let the template render (doctor, tests, docs). A required parameter needs an example."""
    values: dict[str, Any] = {}
    for spec in template.meta.parameters:
        if spec.secret and not include_secrets:
            continue
        if spec.example is not None:
            values[spec.name] = spec.example
        elif spec.required:
            raise TemplateError(template.name, [f"required parameter {spec.name} has no example"])
    return values
