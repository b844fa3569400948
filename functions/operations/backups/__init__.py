"""Backups of the stacks' volumes and of PocketBase with restic (docs/backups.md).

The operations the CLI, ``cfa serve``'s schedule and the admin page call:

- :func:`run_backup` (``cfa backup run TENANT/STACK``) → :class:`BackupResult`
- :func:`list_backups` (``cfa backup list TENANT/STACK``) → list of :class:`Snapshot`, newest first
- :func:`restore_backup` (``cfa backup restore TENANT/STACK --snapshot ID``) → :class:`RestoreResult`
  (a :class:`~functions.operations.lifecycle.StackResult`)
- :func:`backup_pocketbase` (``cfa backup run pocketbase``) → :class:`BackupResult`
"""

from functions.operations.backups.models import BackupResult, RestoreResult, Snapshot
from functions.operations.backups.pocketbase_backup import backup_pocketbase, list_pocketbase_backups
from functions.operations.backups.restore import check_restore, restore_backup
from functions.operations.backups.stack_backup import apply_retention, check_backup, list_backups, run_backup

__all__ = [
    "BackupResult",
    "RestoreResult",
    "Snapshot",
    "apply_retention",
    "backup_pocketbase",
    "check_backup",
    "check_restore",
    "list_backups",
    "list_pocketbase_backups",
    "restore_backup",
    "run_backup",
]
