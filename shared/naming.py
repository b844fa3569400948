"""Validation of tenant slugs and stack names, and the deterministic names derived from them.

Coolify names are how a crashed run finds what it created: ``cf-<tenant>`` for the project,
``cf-<tenant>-<stack>`` for a service, looked up *inside the tenant's project* (the flat name alone is
ambiguous: tenant ``a-b`` + stack ``c`` and tenant ``a`` + stack ``b-c`` give the same string).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

from shared.errors import InvalidInput

NAME_RULES = "3-30 characters: lower-case letters, digits and single hyphens, starting with a letter"
_VALID = re.compile(r"[a-z][a-z0-9-]{1,28}[a-z0-9]")  # always used with fullmatch
RESERVED = frozenset({"admin", "api", "www", "coolify", "traefik", "pocketbase", "monitor", "root", "system"})


def validate_name(value: object, field: str) -> str:
    """Return ``value`` if it is a valid slug/stack name; otherwise raise InvalidInput saying why."""
    if not isinstance(value, str):
        raise InvalidInput(field, f"must be text, got {type(value).__name__}", advice=NAME_RULES)
    shown = value if len(value) <= 40 and value.isprintable() else repr(value[:40])
    if not value:
        raise InvalidInput(field, "is empty", advice=NAME_RULES)
    if len(value) > 30:
        raise InvalidInput(
            field, f"{shown!s} is {len(value)} characters long (at most 30)", advice=NAME_RULES
        )
    if len(value) < 3:
        raise InvalidInput(field, f"{shown!r} is too short (at least 3 characters)", advice=NAME_RULES)
    if value != value.lower() and value.isascii():
        raise InvalidInput(field, f"{shown!r} has upper-case letters", advice=f"use {value.lower()!r}")
    bad = sorted({c for c in value if not (c.isascii() and (c.isalnum() or c == "-"))})
    if bad:
        shown_bad = " ".join(repr(c) for c in bad[:5])
        raise InvalidInput(
            field, f"{shown!r} contains characters that are not allowed: {shown_bad}", advice=NAME_RULES
        )
    if not value[0].isalpha():
        raise InvalidInput(field, f"{shown!r} must start with a letter", advice=NAME_RULES)
    if value.endswith("-"):
        raise InvalidInput(field, f"{shown!r} must not end with a hyphen", advice=NAME_RULES)
    if "--" in value:
        raise InvalidInput(field, f"{shown!r} contains a double hyphen", advice=NAME_RULES)
    if value in RESERVED:
        raise InvalidInput(field, f"{value!r} is reserved", advice="choose another name")
    assert _VALID.fullmatch(value)
    return value


def is_valid_name(value: object) -> bool:
    """Whether ``value`` would pass ``validate_name`` (for places that must not raise)."""
    if not isinstance(value, str):
        return False
    return bool(_VALID.fullmatch(value)) and "--" not in value and value not in RESERVED


def validate_slug(value: object) -> str:
    return validate_name(value, "tenant")


def validate_stack_name(value: object) -> str:
    return validate_name(value, "stack")


def parse_stack_ref(ref: str) -> tuple[str, str]:
    """``acme/bot`` → (``acme``, ``bot``), both validated."""
    tenant, sep, stack = ref.partition("/")
    if not sep:
        raise InvalidInput("stack", f"{ref!r} is not of the form TENANT/STACK", advice="e.g. acme/bot")
    return validate_slug(tenant), validate_stack_name(stack)


# Every Coolify project and service the platform makes starts with this (the reconciler's orphans).
PROJECT_PREFIX = "cf-"


def project_name(tenant: str) -> str:
    return f"{PROJECT_PREFIX}{tenant}"


def service_name(tenant: str, stack: str) -> str:
    return f"{PROJECT_PREFIX}{tenant}-{stack}"


def public_host(tenant: str, stack: str, base_domain: str) -> str:
    """``<stack>-<tenant>.<base domain>``; the first label stays within DNS's 63 characters."""
    return f"{stack}-{tenant}.{base_domain}"


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """``"did you mean acme? "`` for the closest existing name, or "" when none is close."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f"did you mean {close[0]}? " if close else ""
