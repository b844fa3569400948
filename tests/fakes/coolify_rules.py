"""Coolify's request-validation rules, re-stated in Python for the fake.

Each checker appends Laravel-style messages to an ``errors`` dict (field → list of messages), the shape
Coolify returns inside ``422 {"message": "Validation failed.", "errors": {...}}``. The patterns are the
ones of ``app/Support/ValidationPatterns.php`` (reference ``coolify-api.md`` §3 and §6).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Mapping
from typing import Any

Errors = dict[str, list[str]]

NAME_EXTRA_CHARS = frozenset("-_.@/&()#,:+")
DESCRIPTION_EXTRA_CHARS = frozenset("-_.,!?()'\"+=*@/&")
ENV_KEY_PATTERN = re.compile(r"\A[A-Za-z_][A-Za-z0-9_.]*\Z")
NAME_REGEX_MESSAGE = (
    "The name may only contain letters (including Unicode), numbers, spaces, "
    "and these characters: - _ . / @ & ( ) # , : +"
)
DESCRIPTION_REGEX_MESSAGE = (
    "The description may only contain letters (including Unicode), numbers, spaces, "
    "and common punctuation: - _ . , ! ? ( ) ' \" + = * / @ &"
)


def _unicode_class_match(value: str, extra: frozenset[str]) -> bool:
    r"""Whether ``value`` matches ``^[\p{L}\p{M}\p{N}\s<extra>]+$`` (PCRE with ``/u``).

    Checked per character with ``unicodedata`` categories, which is exact for ``\p{L}``, ``\p{M}`` and
    ``\p{N}`` (the ``regex`` module is not installed, and Python's ``re`` has no ``\p{...}``).
    """
    if not value:
        return False
    for char in value:
        if char in extra or char.isspace():
            continue
        if unicodedata.category(char)[0] not in "LMN":
            return False
    return True


def matches_name_pattern(value: str) -> bool:
    """``ValidationPatterns::NAME_PATTERN``: letters, marks, digits, whitespace and ``-_.@/&()#,:+``."""
    return _unicode_class_match(value, NAME_EXTRA_CHARS)


def matches_description_pattern(value: str) -> bool:
    """``ValidationPatterns::DESCRIPTION_PATTERN``: like names, with ``,!?()'"+=*@/&`` punctuation."""
    return _unicode_class_match(value, DESCRIPTION_EXTRA_CHARS)


def label(field: str) -> str:
    """Laravel's attribute label: ``instant_deploy`` → ``instant deploy``."""
    return field.replace("_", " ")


def is_laravel_bool(value: object) -> bool:
    """Laravel's ``boolean`` rule: true, false, 1, 0, "1" and "0" pass."""
    return value in (True, False, 0, 1, "0", "1") and not isinstance(value, float)


def to_bool(value: object) -> bool:
    """The value a Laravel ``boolean`` field is stored as: only true, 1 and "1" are true."""
    return value is True or value == 1 or value == "1"


def query_bool(raw: str | None, default: bool) -> bool:
    """``$request->boolean(name, default)``: absent → default, else PHP ``FILTER_VALIDATE_BOOLEAN``."""
    if raw is None:
        return default
    return raw.strip().lower() in ("1", "true", "on", "yes")


def add(errors: Errors, field: str, message: str) -> None:
    errors.setdefault(field, []).append(message)


def reject_unknown(body: Mapping[str, Any], allowed: Collection[str], errors: Errors) -> None:
    """Coolify's allow-list check: every extra key gets ``"This field is not allowed."``."""
    for key in body:
        if key not in allowed:
            add(errors, key, "This field is not allowed.")


def check_string(
    body: Mapping[str, Any],
    field: str,
    errors: Errors,
    *,
    required: bool = False,
    nullable: bool = False,
    min_len: int | None = None,
    max_len: int | None = None,
) -> str | None:
    """Laravel ``required|string|min|max`` (``nullable`` lets ``null`` through). Returns the value if valid.

    As in Laravel, an empty string counts as ``null`` (the ``ConvertEmptyStringsToNull`` middleware).
    """
    if field not in body:
        if required:
            add(errors, field, f"The {label(field)} field is required.")
        return None
    value = body[field]
    if value is None or value == "":
        if required:
            add(errors, field, f"The {label(field)} field is required.")
        elif not nullable:
            add(errors, field, f"The {label(field)} field must be a string.")
        return None
    if not isinstance(value, str):
        add(errors, field, f"The {label(field)} field must be a string.")
        return None
    if min_len is not None and len(value) < min_len:
        add(errors, field, f"The {label(field)} field must be at least {min_len} characters.")
        return None
    if max_len is not None and len(value) > max_len:
        add(errors, field, f"The {label(field)} field must not be greater than {max_len} characters.")
        return None
    return value


def check_bool(body: Mapping[str, Any], field: str, errors: Errors) -> None:
    """Laravel ``boolean`` on an optional field."""
    if field in body and body[field] is not None and not is_laravel_bool(body[field]):
        add(errors, field, f"The {label(field)} field must be true or false.")


def check_name(body: Mapping[str, Any], errors: Errors, *, required: bool = True) -> None:
    """``ValidationPatterns::nameRules()``: required, string, 3 to 255 chars, NAME_PATTERN."""
    value = body.get("name")
    if value is None or value == "":
        if required:
            add(errors, "name", "The name field is required.")
        return
    if not isinstance(value, str):
        add(errors, "name", "The name field must be a string.")
    elif len(value) < 3:
        add(errors, "name", "The name must be at least 3 characters.")
    elif len(value) > 255:
        add(errors, "name", "The name may not be greater than 255 characters.")
    elif not matches_name_pattern(value):
        add(errors, "name", NAME_REGEX_MESSAGE)


def check_description(body: Mapping[str, Any], errors: Errors) -> None:
    """``ValidationPatterns::descriptionRules()``: nullable, string, ≤255 chars, DESCRIPTION_PATTERN."""
    value = body.get("description")
    if value is None or value == "":
        return
    if not isinstance(value, str):
        add(errors, "description", "The description field must be a string.")
    elif len(value) > 255:
        add(errors, "description", "The description may not be greater than 255 characters.")
    elif not matches_description_pattern(value):
        add(errors, "description", DESCRIPTION_REGEX_MESSAGE)


def normalise_env_key(value: object) -> object:
    """Coolify trims env keys and turns inner spaces into ``_`` before validating them."""
    if isinstance(value, str):
        return value.strip().replace(" ", "_")
    return value


def check_env_item(item: Mapping[str, Any], errors: Errors, prefix: str = "") -> None:
    """The env create/update rules (§6): key required and pattern-checked, value string|null, flags."""
    key = item.get("key")
    if key is None or key == "":
        add(errors, f"{prefix}key", "The key field is required.")
    elif not isinstance(key, str):
        add(errors, f"{prefix}key", "The key field must be a string.")
    elif len(key) > 255:
        add(errors, f"{prefix}key", "The key field must not be greater than 255 characters.")
    elif not ENV_KEY_PATTERN.match(key):
        add(
            errors,
            f"{prefix}key",
            "The key may only contain letters, numbers, underscores and dots, "
            "and must start with a letter or underscore.",
        )
    if item.get("value") is not None and not isinstance(item["value"], str):
        add(errors, f"{prefix}value", "The value field must be a string.")
    for flag in ("is_literal", "is_multiline", "is_shown_once", "is_preview"):
        if flag in item and item[flag] is not None and not is_laravel_bool(item[flag]):
            add(errors, f"{prefix}{flag}", f"The {label(flag)} field must be true or false.")
    comment = item.get("comment")
    if comment is not None and (not isinstance(comment, str) or len(comment) > 256):
        add(errors, f"{prefix}comment", "The comment field must be a string of at most 256 characters.")
