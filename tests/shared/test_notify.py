"""shared.notify: how CFA_APPRISE_URLS is read, and the plugin table that keeps Apprise small."""

from __future__ import annotations

import importlib
import warnings

import pytest

from shared.notify import PLUGIN_MODULES, split_urls


def test_urls_are_split_on_spaces_and_commas() -> None:
    """CFA_APPRISE_URLS accepts either separator."""
    assert split_urls(" tgram://a/b, mailtos://c?to=d  json://e ") == [
        "tgram://a/b",
        "mailtos://c?to=d",
        "json://e",
    ]


@pytest.mark.parametrize(("scheme", "module"), sorted(PLUGIN_MODULES.items()))
def test_the_plugin_table_names_the_module_that_serves_each_scheme(scheme: str, module: str) -> None:
    """Loading only the listed module is enough for URLs of that scheme."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        imported = importlib.import_module(f"apprise.plugins.{module}")
    schemes: set[str] = set()
    for value in vars(imported).values():
        if isinstance(value, type) and hasattr(value, "app_id"):
            for attribute in ("protocol", "secure_protocol"):
                declared = getattr(value, attribute, None)
                schemes.update(declared if isinstance(declared, list | tuple) else [str(declared)])
    assert scheme in schemes
