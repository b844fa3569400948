"""Parameter validation: types, required values, and every way a value could escape its scalar."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared import redaction
from shared.catalog import Template
from shared.errors import InvalidInput
from shared.params import validate_params
from tests.shared.template_factory import make_template


@pytest.fixture
def template(tmp_path: Path) -> Template:
    return make_template(
        tmp_path,
        meta={
            "parameters": [
                {"name": "greeting", "type": "string", "description": "a line", "default": "hello"},
                {"name": "prompt", "type": "text", "description": "many lines", "default": "x"},
                {
                    "name": "count",
                    "type": "integer",
                    "description": "n",
                    "default": 3,
                    "minimum": 0,
                    "maximum": 9,
                },
                {"name": "ids", "type": "integer_list", "description": "ids", "default": [], "max_items": 3},
                {"name": "tags", "type": "string_list", "description": "t", "default": ["a"], "min_items": 1},
                {
                    "name": "token",
                    "type": "string",
                    "description": "secret",
                    "secret": True,
                    "env": "PROBE_TOKEN",
                },
                {"name": "image", "type": "image", "description": "img", "default": "reg.example/app:1.0"},
                {"name": "hook", "type": "url", "description": "url", "default": "https://example.com/h"},
                {"name": "mode", "type": "enum", "description": "m", "values": ["a", "b"], "default": "a"},
                {"name": "flag", "type": "boolean", "description": "f", "default": False},
                {"name": "jobs", "type": "schedules", "description": "cron", "default": []},
            ]
        },
    )


HOSTILE_STRINGS = {
    "newline": ("hi\nadmin: true", "a newline"),
    "carriage return": ("hi\r", "carriage return"),
    "tab": ("a\tb", "a tab"),
    "NUL": ("a\x00b", "NUL"),
    "line separator": ("a\u2028b", "U+2028"),
    "next line": ("a\u0085b", "U+0085"),
    "bidi override": ("evil\u202etxt.exe", "U+202E"),
    "escape": ("\x1b[31mred", "U+001B"),
    "delete": ("a\x7f", "U+007F"),
    "lone surrogate": ("a\ud800b", "U+D800"),
}


@pytest.mark.parametrize(("value", "reason"), HOSTILE_STRINGS.values(), ids=list(HOSTILE_STRINGS))
def test_hostile_single_line_strings_are_refused(template: Template, value: str, reason: str) -> None:
    """A string with control characters, line breaks, bidi controls or surrogates is refused, naming why."""
    with pytest.raises(InvalidInput) as caught:
        validate_params(template, {"token": "t" * 20, "greeting": value})
    assert caught.value.field == "param greeting"
    assert reason in caught.value.message


TEMPLATE_SYNTAX = [
    "{{ secrets }}",
    "{% raw %}",
    "{{team.DB_PASSWORD}}",
    "${ROUTER_API_KEY}",
    "$ROUTER_API_KEY",
    "$SERVICE_FQDN_APP",
    "$(id)",
    "$5 a month",
    "costs $5 — \"quoted\" 'single' {braces} # not a comment: - no list \\",
]


@pytest.mark.parametrize("value", TEMPLATE_SYNTAX)
def test_template_and_interpolation_syntax_is_accepted_as_text(template: Template, value: str) -> None:
    """`{{…}}`, `${…}`, `$NAME` and friends are the tenant's text: accepted unchanged (templates carry
    free text base64-encoded, so neither Jinja, Compose nor Coolify ever reads it)."""
    validated = validate_params(
        template, {"token": "t" * 20, "greeting": value, "prompt": value + "\n" + value}
    )
    assert validated.public["greeting"] == value
    assert validated.public["prompt"] == value + "\n" + value


def test_text_allows_newlines_and_tabs_but_not_other_controls(template: Template) -> None:
    """Multi-line text keeps newlines and tabs, and still refuses a carriage return or an escape."""
    ok = validate_params(template, {"token": "t" * 20, "prompt": "line 1\n\tline 2"})
    assert ok.public["prompt"] == "line 1\n\tline 2"
    for bad in ("a\r\nb", "a\x1bb"):
        with pytest.raises(InvalidInput) as caught:
            validate_params(template, {"token": "t" * 20, "prompt": bad})
        assert caught.value.field == "param prompt"


SECRETS_REFUSED = {
    "single quote": ("abc'def", "single quote"),
    "shared variable": ("key{{team.X}}", "shared variables"),
    "leading blank": (" abcdef", "blank"),
    "trailing blank": ("abcdef ", "blank"),
    "trailing backslash": ("abcdef\\", "backslash"),
    "json object": ('{"a": 1}', "JSON"),
    "json array": ("[1, 2]", "JSON"),
    "newline": ("abc\ndef", "newline"),
}


@pytest.mark.parametrize(("value", "reason"), SECRETS_REFUSED.values(), ids=list(SECRETS_REFUSED))
def test_secrets_coolifys_dotenv_cannot_carry_are_refused(
    template: Template, value: str, reason: str
) -> None:
    """A secret goes into Coolify's `.env` (single-quoted, unescaped, `{{…}}` substituted, trimmed):
    what it cannot carry unchanged is refused, naming the parameter, the reason and what to do."""
    with pytest.raises(InvalidInput) as caught:
        validate_params(template, {"token": value})
    assert caught.value.field == "param token"
    assert reason in caught.value.message
    assert "re-issue" in caught.value.advice
    assert value not in caught.value.one_line()


@pytest.mark.parametrize("value", ["sk-$5-${HOME}-$$", "back\\slash-in-the-middle", "{not json", "ünï-✓"])
def test_secrets_with_dollars_and_other_text_are_accepted(template: Template, value: str) -> None:
    """`$`, `${…}`, inner backslashes and non-ASCII survive `.env` quoting and a `${NAME}` reference."""
    assert validate_params(template, {"token": value}).secret_env == {"PROBE_TOKEN": value}


def test_unknown_parameter_lists_the_real_ones(template: Template) -> None:
    """A misspelt parameter is refused with the list of valid names."""
    with pytest.raises(InvalidInput) as caught:
        validate_params(template, {"token": "t" * 20, "greting": "x"})
    assert "greeting" in caught.value.advice


def test_missing_required_secret(template: Template) -> None:
    """A required secret missing is refused unless only rendering."""
    meta_token = template.param("token")
    assert meta_token is not None
    with pytest.raises(InvalidInput, match="is required"):
        validate_params(_require(template), {})
    assert validate_params(_require(template), {}, require_secrets=False).secret_env == {}


def _require(template: Template) -> Template:
    params = [
        p.model_copy(update={"required": True}) if p.name == "token" else p for p in template.meta.parameters
    ]
    return Template(template.directory, template.meta.model_copy(update={"parameters": params}))


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("count", "ten", "whole number"),
        ("count", "10", "at most 9"),
        ("count", "-1", "at least 0"),
        ("count", True, "whole number"),
        ("ids", "1,two", "whole number"),
        ("ids", "1,2,3,4", "at most 3"),
        ("image", "reg.example/app", "not pinned"),
        ("image", "reg.example/app:latest", "not pinned"),
        ("image", "reg.example/app:main", "not pinned"),
        ("image", "Reg Example/app:1", "not an image reference"),
        ("hook", "ftp://example.com", "http(s) URL"),
        ("hook", "https://user:pw@example.com", "credentials"),
        ("hook", "javascript:alert(1)", "http(s) URL"),
        ("hook", "https://example.com/$SERVICE_FQDN_APP", "contains $, { or }"),
        ("hook", "https://example.com/{{team.X}}", "contains $, { or }"),
        ("mode", "c", "one of a, b"),
        ("flag", "maybe", "true or false"),
        ("jobs", "not json", "valid JSON"),
        ("jobs", '[{"name": "x", "cron": "every day", "prompt": "hi"}]', "5-field cron"),
        ("jobs", '[{"name": "x", "cron": "0 8 * * *"}]', "exactly the keys"),
        ("greeting", "x" * 201, "at most 200"),
    ],
)
def test_typed_values_are_checked(template: Template, name: str, value: object, reason: str) -> None:
    """Each type refuses bad values with a message naming the problem."""
    with pytest.raises(InvalidInput) as caught:
        validate_params(template, {"token": "t" * 20, name: value})
    assert caught.value.field == f"param {name}"
    assert reason in caught.value.message


def test_values_are_converted_from_cli_strings(template: Template) -> None:
    """CLI strings become typed values: integers, lists, booleans, schedules."""
    validated = validate_params(
        template,
        {
            "token": "t" * 20,
            "count": "7",
            "ids": "1, 2",
            "flag": "yes",
            "jobs": '[{"name": "daily", "cron": "0  8 * * *", "prompt": "summarise"}]',
            "image": "reg.example/app@sha256:" + "a" * 64,
        },
    )
    assert validated.public["count"] == 7
    assert validated.public["ids"] == [1, 2]
    assert validated.public["flag"] is True
    assert validated.public["jobs"] == [{"name": "daily", "cron": "0 8 * * *", "prompt": "summarise"}]


def test_secrets_are_separated_and_registered(template: Template) -> None:
    """Secret values go to secret_env by env name, never to public, and are registered for redaction."""
    validated = validate_params(template, {"token": "super-secret-token-value"})
    assert validated.secret_env == {"PROBE_TOKEN": "super-secret-token-value"}
    assert "token" not in validated.public
    assert redaction.scrub("log: super-secret-token-value") == "log: ***"


def test_lists_respect_their_minimum_length(template: Template) -> None:
    """A list parameter with min_items refuses fewer items, naming the parameter and the minimum."""
    assert validate_params(template, {"token": "t" * 20, "tags": "x,y"}).public["tags"] == ["x", "y"]
    with pytest.raises(InvalidInput) as caught:
        validate_params(template, {"token": "t" * 20, "tags": ""})
    assert caught.value.field == "param tags"
    assert "at least 1" in caught.value.message
