"""Loading template metadata: broken templates fail loudly with the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.catalog import load_catalog, parse_size
from shared.errors import NotFoundError, TemplateError
from shared.settings import REPO_ROOT
from tests.shared.template_factory import BASE_META, make_template


def test_sizes() -> None:
    """Compose-style sizes parse in binary units."""
    assert [parse_size(v) for v in ("256M", "1g", "512m", "1GB", "100")] == [
        256 << 20,
        1 << 30,
        512 << 20,
        1 << 30,
        100,
    ]
    with pytest.raises(ValueError):
        parse_size("lots")


def test_unknown_template_lists_the_available_ones() -> None:
    """Asking for a template that does not exist names the ones that do."""
    catalog = load_catalog(REPO_ROOT / "templates")
    with pytest.raises(NotFoundError) as caught:
        catalog.get("wordpress")
    assert "telegram-bot" in caught.value.advice


@pytest.mark.parametrize(
    ("meta", "expected"),
    [
        ({"resources": {"team": BASE_META["resources"]["team"]}}, "no resource profile"),
        (
            {"parameters": [{"name": "x", "type": "string", "description": "d", "secret": True}]},
            "needs an env",
        ),
        ({"parameters": [{"name": "x", "type": "colour", "description": "d"}]}, "type"),
        ({"expose": {"service": "nope", "port": 80}}, "expose.service"),
        (
            {"services": {"app": {"optional": True}}, "expose": {"service": "app", "port": 80}},
            "must always run",
        ),
        ({"stateful": True}, "stateful"),
        (
            {"services": {"app": {"root_exception": {"reason": "short", "compensating_controls": []}}}},
            "reason",
        ),
        ({"unknown_key": 1}, "unknown_key"),
        (
            {"secrets": [{"env": "PROBE_KEY", "kind": "token", "description": "d", "rotation": "explicit"}]},
            "needs a rotation_note",
        ),
        (
            {"secrets": [{"env": "PROBE_KEY", "kind": "token", "description": "d", "rotation": "weekly"}]},
            "rotation",
        ),
    ],
)
def test_broken_metadata_is_a_template_error(tmp_path: Path, meta: dict[str, object], expected: str) -> None:
    """Each inconsistency in template.yaml is reported with what is wrong."""
    with pytest.raises(TemplateError) as caught:
        make_template(tmp_path, meta=meta)
    assert expected in " ".join(caught.value.problems)


def test_folder_and_name_must_agree(tmp_path: Path) -> None:
    """A template.yaml whose name differs from its folder is refused."""
    with pytest.raises(TemplateError, match="folder differs"):
        make_template(tmp_path, meta={"name": "other"}, name="probe")
