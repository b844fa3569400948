"""What Docker Compose v2 (compose-go) makes of a deployed service's environment: ``.env`` and ``${…}``.

The part of ``docker compose up`` that decides what a container's environment holds, for the files a
Coolify host has: the ``.env`` Coolify writes (``KEY=value``, ``KEY='value'``, multi-line single-quoted
values, raw JSON) and the ``environment``/``command``/``entrypoint`` values of its rewritten compose.
``tests/fakes/test_compose_env.py`` checks these rules against the real Compose v2 binary.

- Interpolation: ``$$`` is a literal ``$``; ``$NAME`` and ``${NAME}`` are replaced (an unset variable
  becomes empty); ``${NAME:-x}``, ``-``, ``:?``, ``?``, ``:+``, ``+`` as in the shell; a ``$`` followed by
  anything else stays literal; an unterminated or malformed ``${`` is an error, as is a ``:?``/``?``
  variable without a value. Replaced text is never scanned again.
- ``.env`` single-quoted values are literal, except that ``\\'`` is an escaped quote; whatever follows
  the closing quote on the line is read as the next statement. Unquoted values end at the line's end or
  at `` #``, lose trailing blanks and are interpolated. Double-quoted values take ``\\n``-style escapes
  and are interpolated.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_NAME = re.compile(r"[_a-zA-Z][_a-zA-Z0-9]*")
_BRACED = re.compile(r"([_a-zA-Z][_a-zA-Z0-9]*)(?:(:?[-+?])(.*))?", re.DOTALL)
_KEY_CHARS = re.compile(r"[A-Za-z0-9_.\-]")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "$": "$"}


class ComposeUpError(Exception):
    """``docker compose up`` refused the stack before starting anything (what the activity log shows)."""


def interpolate(value: str, variables: Mapping[str, str], where: str = "value") -> str:
    """``value`` with its ``${…}`` references resolved from ``variables``; ComposeUpError if malformed."""
    out: list[str] = []
    i = 0
    while i < len(value):
        char = value[i]
        if char != "$":
            out.append(char)
            i += 1
            continue
        following = value[i + 1 : i + 2]
        if following == "$":
            out.append("$")
            i += 2
        elif following == "{":
            end = _closing_brace(value, i + 2)
            match = _BRACED.fullmatch(value[i + 2 : end]) if end >= 0 else None
            if match is None:
                raise ComposeUpError(
                    f"invalid interpolation format for {where}.\nYou may need to escape any $ with another $."
                )
            out.append(_substitute(match.group(1), match.group(2), match.group(3) or "", variables, where))
            i = end + 1
        elif (named := _NAME.match(value, i + 1)) is not None:
            out.append(variables.get(named.group(0), ""))
            i = named.end()
        else:
            out.append("$")
            i += 1
    return "".join(out)


def _closing_brace(value: str, start: int) -> int:
    depth = 1
    for index in range(start, len(value)):
        if value[index] == "{":
            depth += 1
        elif value[index] == "}":
            depth -= 1
            if depth == 0:
                return index
    return -1


def _substitute(
    name: str, operator: str | None, argument: str, variables: Mapping[str, str], where: str
) -> str:
    current = variables.get(name)
    if operator is None:
        return current or ""
    present = current is not None and (current != "" or not operator.startswith(":"))
    if operator.endswith("-"):
        return current if present and current is not None else interpolate(argument, variables, where)
    if operator.endswith("?"):
        if not present:
            raise ComposeUpError(
                f"error while interpolating {where}: required variable {name} is missing a value"
            )
        return current or ""
    return interpolate(argument, variables, where) if present else ""  # :+ and +


def parse_dotenv(text: str) -> dict[str, str]:
    """The variables a ``.env`` file defines, in order; ComposeUpError where Compose fails to read it."""
    variables: dict[str, str] = {}
    rest = text
    while True:
        rest = _skip_blank_and_comments(rest)
        if not rest:
            return variables
        key, rest = _read_key(rest)
        if key is None:
            continue  # a bare name without "=": Compose looks it up in its own environment (empty here)
        value, rest = _read_value(rest.lstrip(" \t"), variables)
        variables[key] = value


def _skip_blank_and_comments(text: str) -> str:
    while True:
        text = text.lstrip(" \t\r\n")
        if not text.startswith("#"):
            return text
        text = text.partition("\n")[2]


def _read_key(text: str) -> tuple[str | None, str]:
    if text.startswith("export ") or text.startswith("export\t"):
        text = text[len("export") :].lstrip(" \t")
    index = 0
    while index < len(text) and _KEY_CHARS.match(text[index]):
        index += 1
    key, following = text[:index], text[index : index + 1]
    if key and following in ("", "\n", "\r", " ", "\t") and not text[index:].lstrip(" \t").startswith("="):
        return None, text[index:]
    if not key or following not in ("=", " ", "\t"):
        shown = text[: index + 1].split("\n")[0]
        raise ComposeUpError(
            f'failed to read .env: unexpected character "{following}" in variable name "{shown}"'
        )
    rest = text[index:].lstrip(" \t")
    return key, rest[1:]


def _read_value(text: str, variables: Mapping[str, str]) -> tuple[str, str]:
    if text.startswith("'"):
        return _quoted(text, "'", variables)
    if text.startswith('"'):
        return _quoted(text, '"', variables)
    line, _, rest = text.partition("\n")
    line = line.split(" #", 1)[0].rstrip()
    return interpolate(line, variables, ".env"), rest


def _quoted(text: str, quote: str, variables: Mapping[str, str]) -> tuple[str, str]:
    chars: list[str] = []
    escaped = False
    for index in range(1, len(text)):
        char = text[index]
        if char != quote:
            if not escaped and char == "\\":
                escaped = True
                continue
            if escaped:
                escaped = False
                chars.append("\\")
            chars.append(char)
            continue
        if escaped:
            escaped = False
            chars.append(char)
            continue
        value = "".join(chars)
        if quote == '"':
            value = interpolate(_expand_escapes(value), variables, ".env")
        return value, text[index + 1 :]
    raise ComposeUpError(f"failed to read .env: unterminated quoted value {text.split(chr(10))[0]}")


def _expand_escapes(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(0)), value)


def service_environment(service: Mapping[str, Any], dotenv: Mapping[str, str], name: str) -> dict[str, str]:
    """What a container of ``service`` (a deployed compose service) gets: its ``env_file`` (Coolify's
    ``.env``) under its interpolated ``environment``; a null value is looked up in ``.env``."""
    env_files = service.get("env_file") or []
    result: dict[str, str] = dict(dotenv) if ".env" in env_files else {}
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(str(item).partition("=")[::2] for item in environment)
    for key, value in environment.items():
        if value is None:
            if key in dotenv:
                result[str(key)] = dotenv[key]
            continue
        result[str(key)] = interpolate(_scalar(value), dotenv, f"services.{name}.environment.{key}")
    return result


def service_arguments(
    service: Mapping[str, Any], dotenv: Mapping[str, str], name: str, key: str
) -> list[str]:
    """A service's ``command`` or ``entrypoint`` (list form) as the container receives it."""
    value = service.get(key) or []
    if isinstance(value, str):
        raise ValueError(f"{name}.{key} is a string; the fake models the list form only")
    return [interpolate(_scalar(item), dotenv, f"services.{name}.{key}") for item in value]


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
