"""Every runbook link the code can emit, and every relative link in the docs, points at a file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from functions.alerts import RUNBOOKS
from monitor.findings import Kind
from shared.settings import REPO_ROOT

CODE = [p for package in ("functions", "monitor", "shared") for p in (REPO_ROOT / package).rglob("*.py")]
DOCS = [REPO_ROOT / "README.md", *(REPO_ROOT / "docs").glob("*.md"), *(REPO_ROOT / "runbooks").glob("*.md")]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def _emitted_by_code() -> set[str]:
    """Runbook names the code can put in an alert: the functions' declared set, every monitor alert
    kind (its runbook is runbooks/<kind>.md), and any runbooks/<name>.md or runbook="<name>" in the code."""
    names = set(RUNBOOKS) | {kind.value for kind in Kind}
    for path in CODE:
        text = path.read_text()
        names |= set(re.findall(r"runbooks/([a-z0-9-]+)\.md", text))
        names |= set(re.findall(r"runbook=\"([a-z0-9-]+)\"", text))
    return names


@pytest.mark.parametrize("name", sorted(_emitted_by_code()))
def test_every_runbook_the_code_can_link_exists(name: str) -> None:
    assert (REPO_ROOT / "runbooks" / f"{name}.md").is_file(), f"runbooks/{name}.md is linked but missing"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(Path(p).relative_to(REPO_ROOT)))
def test_every_relative_link_in_the_docs_resolves(doc: Path) -> None:
    broken = [
        target
        for target in LINK.findall(doc.read_text())
        if "://" not in target and not target.startswith("mailto:") and not (doc.parent / target).exists()
    ]
    assert broken == [], f"{doc.name}: {broken}"
