"""Every alert kind links to a runbook that exists and answers the four on-call questions."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.findings import Kind
from monitor.messages import runbook_url

RUNBOOKS = Path(__file__).resolve().parents[2] / "runbooks"


@pytest.mark.parametrize("kind", list(Kind))
def test_the_runbook_of_every_kind_exists_with_its_sections(kind: Kind) -> None:
    """runbooks/<kind>.md (the link in alerts) has meaning, confirm, fix and escalate sections."""
    url = runbook_url("https://git.example/agents/blob/main/", kind)
    path = RUNBOOKS / url.rsplit("/runbooks/", 1)[1]
    text = path.read_text()
    for section in ("## What it means", "## Confirm", "## Fix", "## Escalate"):
        assert section in text, f"{path.name} lacks {section}"
    assert "```sh" in text, f"{path.name} gives no commands to confirm"


def test_the_index_lists_every_runbook() -> None:
    """runbooks/README.md links each kind."""
    index = (RUNBOOKS / "README.md").read_text()
    assert all(f"]({kind.value}.md)" in index for kind in Kind)
