"""Compose decoding and parsing as the fake does it."""

from __future__ import annotations

import base64

import pytest

from tests.fakes.compose import (
    BASE64_ERROR,
    ComposeError,
    decode_compose,
    encode_compose,
    generate_value,
    is_database_image,
)


def test_round_trip() -> None:
    """``encode_compose`` output is accepted and parsed back."""
    compose = decode_compose(encode_compose("services:\n  web:\n    image: nginx\n"))
    assert compose.services == {"web": {"image": "nginx"}}


@pytest.mark.parametrize(
    "raw", ["not base64!", "c2VydmljZXM", 42, base64.b64encode(b"services:\n").decode() + "\n"]
)
def test_strict_base64(raw: object) -> None:
    """Unpadded, non-alphabet, non-string or newline-terminated input is refused with the base64 message."""
    with pytest.raises(ComposeError, match=BASE64_ERROR):
        decode_compose(raw)


@pytest.mark.parametrize(
    "text",
    [
        "services:\n  'web;rm':\n    image: nginx\n",
        "services:\n  web:\n    image: nginx\n    volumes:\n      - '$(id):/data'\n",
    ],
)
def test_shell_metacharacters_are_refused(text: str) -> None:
    """Service names and volume paths with shell metacharacters are refused."""
    with pytest.raises(ComposeError):
        decode_compose(encode_compose(text))


def test_variable_volume_sources_are_allowed() -> None:
    """``${VAR:-x}/path`` volume sources pass the shell-safety check."""
    text = "services:\n  web:\n    image: nginx\n    volumes:\n      - '${DATA:-./data}/x:/data'\n"
    assert decode_compose(encode_compose(text)).named_volumes() == []


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("postgres:16-alpine", True),
        ("docker.io/library/redis:7", True),
        ("ghcr.io/berriai/litellm-database:main-stable", False),
        ("nginx", False),
        (None, False),
    ],
)
def test_database_images(image: str | None, expected: bool) -> None:
    """Known database images are told apart from applications, registry and tag ignored."""
    assert is_database_image(image) is expected


def test_generators() -> None:
    """Generator tokens produce values of the documented shape; other keys produce none."""
    assert len(generate_value("SERVICE_PASSWORD_64_X") or "") == 64
    assert len(generate_value("SERVICE_USER_X") or "") == 16
    assert len(generate_value("SERVICE_HEX_32_X") or "") == 32
    assert generate_value("OPENAI_API_KEY") is None
