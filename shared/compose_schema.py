"""Validate a compose document against the Compose Specification's JSON Schema (vendored)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator

SCHEMA_PATH = Path(__file__).parent / "schemas" / "compose-spec.json"


@lru_cache(maxsize=1)
def _validator() -> Draft7Validator:
    schema = json.loads(SCHEMA_PATH.read_text())
    return Draft7Validator(schema)


def schema_errors(compose: dict[str, Any]) -> list[str]:
    """Every schema violation as ``path: message``; empty when the document is valid."""
    errors = sorted(_validator().iter_errors(compose), key=lambda e: list(map(str, e.absolute_path)))
    return [f"{'.'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}" for e in errors]
