"""The one settings model: CFA_ variables, read once."""

from __future__ import annotations

import pytest

from shared.settings import Settings


def test_a_blank_variable_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    """compose.yml passes optional settings as ${X:-}: blank is "not configured", not a bad URL."""
    for name in ("CFA_COOLIFY_URL", "CFA_ROUTER_URL", "CFA_BASE_DOMAIN", "CFA_ADMIN_SECRET_KEY"):
        monkeypatch.setenv(name, "")

    settings = Settings()

    assert settings.coolify_url is None and settings.router_url is None
    assert settings.admin_secret_key is None


def test_a_malformed_variable_is_still_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CFA_COOLIFY_URL", "not a url")

    with pytest.raises(ValueError, match="coolify_url"):
        Settings()
