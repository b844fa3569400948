"""Slug and stack-name validation, and the names derived from them."""

from __future__ import annotations

import pytest

from shared.errors import InvalidInput
from shared.naming import parse_stack_ref, project_name, public_host, service_name, validate_slug

BAD_SLUGS = {
    "": "empty",
    "ab": "too short",
    "a" * 31: "31 characters",
    "Acme": "upper-case",
    "acme_gmbh": "not allowed",
    "acme gmbh": "not allowed",
    "acme.eu": "not allowed",
    "1acme": "start with a letter",
    "-acme": "start with a letter",
    "acme-": "end with a hyphen",
    "ac--me": "double hyphen",
    "acmé": "not allowed",
    "acme\n": "not allowed",
    "acme/../x": "not allowed",
    "admin": "reserved",
    "\uff41\uff43\uff4d\uff45": "not allowed",  # full-width letters look like ASCII but are not
}


@pytest.mark.parametrize(("value", "reason"), BAD_SLUGS.items())
def test_bad_slugs_are_refused_with_the_reason(value: str, reason: str) -> None:
    """Each invalid slug raises InvalidInput whose message says what is wrong."""
    with pytest.raises(InvalidInput) as caught:
        validate_slug(value)
    assert reason in caught.value.message
    assert caught.value.field == "tenant"


def test_non_text_is_refused() -> None:
    """A non-string slug (e.g. from JSON) is refused, not coerced."""
    with pytest.raises(InvalidInput, match="must be text"):
        validate_slug(42)


@pytest.mark.parametrize("value", ["acme", "a1b", "acme-gmbh-2", "x" * 30])
def test_good_slugs_pass_unchanged(value: str) -> None:
    """Valid slugs come back unchanged."""
    assert validate_slug(value) == value


def test_derived_names() -> None:
    """Deterministic Coolify names and the public host name."""
    assert project_name("acme") == "cf-acme"
    assert service_name("acme", "bot") == "cf-acme-bot"
    assert public_host("acme", "chat", "agents.example.com") == "chat-acme.agents.example.com"


def test_longest_public_label_fits_dns() -> None:
    """<stack>-<tenant> with both at the 30-character maximum stays within a 63-character DNS label."""
    label = public_host("s" * 30, "t" * 30, "example.com").split(".")[0]
    assert len(label) <= 63


def test_stack_ref_needs_a_slash() -> None:
    """TENANT/STACK is required for lifecycle commands."""
    assert parse_stack_ref("acme/bot") == ("acme", "bot")
    with pytest.raises(InvalidInput, match="TENANT/STACK"):
        parse_stack_ref("acme-bot")


def test_is_valid_name_agrees_with_validation() -> None:
    """is_valid_name is True exactly for the names validate_slug accepts."""
    from shared.naming import is_valid_name

    assert all(is_valid_name(v) for v in ("acme", "a1b", "acme-gmbh-2"))
    assert not any(is_valid_name(v) for v in [*BAD_SLUGS, 42, None])
