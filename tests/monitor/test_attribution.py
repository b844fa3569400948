"""Tests for monitor.attribution: placing a container with a tenant and stack."""

from __future__ import annotations

from monitor.attribution import attribute, clean
from monitor.directory import StackRecord, StaticDirectory
from tests.monitor.fakes import LABELS

DIRECTORY = StaticDirectory(
    [StackRecord(tenant="acme", stack="bot", template="telegram-bot", plan="team", service_uuid="svc123")]
)


def test_cf_labels_attribute_a_container() -> None:
    """Our templates' cf.* labels name tenant, stack, template and plan."""
    found = attribute(LABELS, StaticDirectory())
    assert (found.tenant, found.stack, found.template, found.plan, found.source) == (
        "acme",
        "bot",
        "telegram-bot",
        "starter",
        "labels",
    )
    assert found.describe() == "tenant acme / stack bot"


def test_compose_project_finds_the_stack_record_and_the_record_wins() -> None:
    """Coolify's compose project equals the stack's service uuid; the record beats the labels."""
    found = attribute({"com.docker.compose.project": "svc123", "cf.tenant": "wrong"}, DIRECTORY)
    assert (found.tenant, found.stack, found.plan, found.source) == ("acme", "bot", "team", "record")


def test_a_container_without_either_is_unattributed_not_dropped() -> None:
    """No cf labels and an unknown project: reported as unattributed."""
    found = attribute({"com.docker.compose.project": "other"}, DIRECTORY)
    assert not found.attributed and found.source == "none" and found.service_uuid == "other"
    assert found.describe() == "unattributed"


def test_label_values_are_cleaned_for_messages() -> None:
    """Markup and control characters are replaced and the length is bounded."""
    assert clean("acme<b>\n") == "acme_b_"
    assert clean("x" * 100) == "x" * 64
    assert clean("  ") is None
