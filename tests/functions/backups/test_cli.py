"""``cfa backup`` end to end through the real entry point, configured by CFA_* variables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.conftest import Cfa
from tests.functions.backups.conftest import PASSWORD


def test_without_a_repository_the_commands_say_how_to_configure_one(cfa: Cfa) -> None:
    """Exit 6 with the setting to set; PocketBase is never restored by cfa (exit 2)."""
    assert cfa("pb", "migrate")[0] == 0
    code, out, err = cfa("backup", "run", "acme/chat")
    assert (code, out) == (6, "")
    assert err.strip().splitlines()[-1] == (
        "cfa: backups are not configured: CFA_BACKUP_REPOSITORY is not set — set CFA_BACKUP_REPOSITORY "
        "and CFA_BACKUP_PASSWORD (see docs/backups.md)"
    )
    assert cfa("backup", "list", "acme/chat")[0] == 6
    code, _, err = cfa("backup", "restore", "pocketbase", "--snapshot", "abcd1234")
    assert code == 2 and "runbooks/backup-failed.md" in err


def test_pocketbase_backup_and_listing(cfa: Cfa, restic_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`cfa backup run pocketbase` makes a snapshot that `cfa backup list pocketbase` shows; the
    password shows up nowhere."""
    monkeypatch.setenv("CFA_BACKUP_REPOSITORY", str(restic_repo))
    monkeypatch.setenv("CFA_BACKUP_PASSWORD", PASSWORD)
    code, out, err = cfa("backup", "run", "pocketbase", "--json", "--log-json")
    assert code == 0, err
    made = json.loads(out)
    assert made["target"] == "pocketbase" and made["bytes_processed"] > 0
    code, listed, err2 = cfa("backup", "list", "pocketbase")
    assert code == 0 and made["snapshot"] in listed
    assert PASSWORD not in out + err + listed + err2
    assert '"event": "backup.pocketbase_completed"' in err
