"""Coolify's validation rules as the fake re-states them."""

from __future__ import annotations

import pytest

from tests.fakes import coolify_rules as rules


@pytest.mark.parametrize("name", ["acme", "Café Zürich", "tenant_01-a.b@c/d&e(f)#g,h:i+j", "नमस्ते"])
def test_names_allowed(name: str) -> None:
    """Letters, marks and digits of any script plus the listed punctuation match NAME_PATTERN."""
    assert rules.matches_name_pattern(name)


@pytest.mark.parametrize("name", ["a;b", "a|b", "a$b", "a<b", "a'b", ""])
def test_names_refused(name: str) -> None:
    """Shell-ish punctuation and the empty string do not match NAME_PATTERN."""
    assert not rules.matches_name_pattern(name)


def test_description_allows_more_punctuation() -> None:
    """Descriptions may use ``!?'"=*`` which names may not."""
    assert rules.matches_description_pattern('Hello, world! Isn\'t it "nice"?')
    assert not rules.matches_name_pattern("Hello!")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(None, True), ("false", False), ("0", False), ("no", False), ("true", True), ("1", True)],
)
def test_query_bool(raw: str | None, expected: bool) -> None:
    """Query flags follow PHP's FILTER_VALIDATE_BOOLEAN with a default of true when absent."""
    assert rules.query_bool(raw, True) is expected


def test_laravel_bool() -> None:
    """The boolean rule accepts true/false/0/1/"0"/"1" only."""
    assert all(rules.is_laravel_bool(v) for v in (True, False, 0, 1, "0", "1"))
    assert not any(rules.is_laravel_bool(v) for v in ("true", "yes", 2, 1.0, None))


def test_check_string_messages() -> None:
    """Required, type and length failures get Laravel's messages under the field name."""
    errors: rules.Errors = {}
    rules.check_string({}, "server_uuid", errors, required=True)
    rules.check_string({"name": 5}, "name", errors)
    rules.check_string({"name2": "x" * 300}, "name2", errors, max_len=255)
    assert errors == {
        "server_uuid": ["The server uuid field is required."],
        "name": ["The name field must be a string."],
        "name2": ["The name2 field must not be greater than 255 characters."],
    }
