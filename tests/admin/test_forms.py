"""The provision form from a template's typed parameters, and what a submitted form gives."""

from __future__ import annotations

from functions.admin.forms import fields, params_from
from shared.catalog import load_catalog
from shared.settings import REPO_ROOT

CATALOG = load_catalog(REPO_ROOT / "templates")


def test_each_parameter_type_gets_its_field_kind() -> None:
    kinds = {(template.name, field.label): field.kind for template in CATALOG for field in fields(template)}

    assert kinds[("telegram-bot", "telegram_token")] == "password"
    assert kinds[("telegram-bot", "history_turns")] == "number"
    assert kinds[("telegram-bot", "system_prompt")] == "textarea"
    assert kinds[("openclaw-agent", "schedules")] == "textarea"
    assert kinds[("llm-workspace", "gateway")] == "select"


def test_a_secret_field_is_never_filled_in_while_other_fields_keep_what_was_typed() -> None:
    bot = CATALOG.get("telegram-bot")
    submitted = {"param.telegram_token": "123:secret", "param.model": "gpt-x", "param.history_turns": "7"}

    values = {field.label: field.value for field in fields(bot, submitted)}

    assert values["telegram_token"] == ""
    assert (values["model"], values["history_turns"]) == ("gpt-x", "7")


def test_defaults_are_shown_as_placeholders_not_values() -> None:
    bot = CATALOG.get("telegram-bot")
    turns = next(f for f in fields(bot) if f.label == "history_turns")

    assert turns.value == "" and turns.placeholder.startswith("default: ")


def test_only_non_blank_known_parameters_are_given_with_plain_newlines() -> None:
    bot = CATALOG.get("telegram-bot")
    form = {
        "param.model": "  ",
        "param.system_prompt": "line one\r\nline two",
        "param.not_a_parameter": "x",
        "csrf_token": "t",
        "template": "telegram-bot",
    }

    assert params_from(bot, form) == {"system_prompt": "line one\nline two"}
