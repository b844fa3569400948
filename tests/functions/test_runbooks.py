"""Every runbook an alert of the event functions can link exists and answers on-call's questions."""

from __future__ import annotations

import pytest

from functions.alerts import RUNBOOKS
from shared.settings import REPO_ROOT


@pytest.mark.parametrize("runbook", sorted(RUNBOOKS))
def test_each_linked_runbook_exists_with_its_sections(runbook: str) -> None:
    """runbooks/<name>.md has meaning, confirm, fix and escalate sections and commands to confirm."""
    text = (REPO_ROOT / "runbooks" / f"{runbook}.md").read_text()
    for section in ("## What it means", "## Confirm", "## Fix", "## Escalate"):
        assert section in text, f"{runbook}.md lacks {section}"
    assert "```sh" in text
    assert f"]({runbook}.md)" in (REPO_ROOT / "runbooks" / "README.md").read_text()


def test_every_runbook_name_in_the_code_is_declared() -> None:
    """No alert can name a runbook outside the declared set (Alert checks it when it is made)."""
    from functions.alerts import Alert

    with pytest.raises(ValueError, match="no runbook"):
        Alert(severity="warning", title="t", body="b", runbook="no-such-runbook")
