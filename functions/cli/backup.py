"""``cfa backup run|list|restore``: the backup operations (functions/operations/backups) at the command
line. ``REF`` is ``TENANT/STACK``, or ``pocketbase`` for PocketBase's own data (run and list)."""

from __future__ import annotations

import argparse

from functions.cli import output
from functions.context import Context
from functions.operations.backups import (
    BackupResult,
    Snapshot,
    backup_pocketbase,
    list_backups,
    list_pocketbase_backups,
    restore_backup,
    run_backup,
)
from shared.errors import InvalidInput
from shared.naming import parse_stack_ref

POCKETBASE = "pocketbase"


def add_parser(
    sub: argparse._SubParsersAction,  # type: ignore[type-arg]
    common: argparse.ArgumentParser,
    locking: argparse.ArgumentParser,
) -> None:
    backup = sub.add_parser("backup", help="back up, list and restore a stack's volumes (restic)")
    actions = backup.add_subparsers(dest="backup_command", required=True, metavar="ACTION")
    run = actions.add_parser(
        "run", parents=[common, locking], help="back up a stack's volumes now (or PocketBase: pocketbase)"
    )
    run.add_argument("ref", metavar="TENANT/STACK", help="the stack, e.g. acme/chat, or pocketbase")
    run.add_argument("--dry-run", action="store_true", help="show what would be backed up; change nothing")
    listing = actions.add_parser("list", parents=[common], help="a stack's snapshots, newest first")
    listing.add_argument("ref", metavar="TENANT/STACK", help="the stack, e.g. acme/chat, or pocketbase")
    restore = actions.add_parser(
        "restore",
        parents=[common, locking],
        help="stop the stack, restore its volumes from a snapshot, start it again",
    )
    restore.add_argument("ref", metavar="TENANT/STACK", help="the stack, e.g. acme/chat")
    restore.add_argument("--snapshot", required=True, metavar="ID", help="a snapshot of it (cfa backup list)")
    restore.add_argument("--dry-run", action="store_true", help="check everything, show the Coolify calls")
    restore.add_argument("--no-wait", action="store_true", help="do not wait for the stack to run again")


def changes_coolify(args: argparse.Namespace) -> bool:
    """A restore stops and starts the stack: without a Coolify it is a dry run."""
    return bool(args.backup_command == "restore")


async def run(ctx: Context, args: argparse.Namespace) -> int:
    action = args.backup_command
    if args.ref == POCKETBASE:
        if action == "restore":
            raise InvalidInput(
                "TENANT/STACK",
                "PocketBase is restored by hand, not by cfa",
                advice="follow runbooks/backup-failed.md (Restore PocketBase)",
            )
        if action == "run":
            _print_result(args, await backup_pocketbase(ctx))
        else:
            _print_snapshots(args, await list_pocketbase_backups(ctx))
        return 0
    tenant, stack = parse_stack_ref(args.ref)
    if action == "run":
        _print_result(args, await run_backup(ctx, tenant, stack))
    elif action == "list":
        _print_snapshots(args, await list_backups(ctx, tenant, stack))
    else:
        restored = await restore_backup(ctx, tenant, stack, args.snapshot, wait=not args.no_wait)
        if args.json:
            output.emit_json(restored)
        elif restored.dry_run:
            output.dry_run_report(restored.dry_run_reason or "--dry-run", restored.calls)
            output.say(
                f"would restore {', '.join(restored.volumes)} of {restored.tenant}/{restored.stack} "
                f"from snapshot {restored.snapshot}"
                + (" (stopping the stack first, starting it after)" if restored.stopped else "")
            )
        else:
            output.say(
                f"restored {', '.join(restored.volumes)} of {restored.tenant}/{restored.stack} from snapshot "
                f"{restored.snapshot}; the stack is {restored.status} (desired: {restored.desired_state})"
            )
    return 0


def _print_result(args: argparse.Namespace, result: BackupResult) -> None:
    if args.json:
        output.emit_json(result)
    elif result.dry_run:
        what = ", ".join(result.volumes) or "its data"
        output.say(f"DRY RUN: would back up {what} of {result.target}; nothing was done")
    else:
        output.say(
            f"backed up {result.target}: snapshot {result.snapshot} at {result.time}, "
            f"{_size(result.bytes_processed)} read, the repository grew by {_size(result.bytes_added)}"
        )


def _print_snapshots(args: argparse.Namespace, snapshots: list[Snapshot]) -> None:
    if args.json:
        output.emit_json(snapshots)
        return
    rows = [[s.id, s.time, ", ".join(s.volumes) or "-", s.service_uuid or "-"] for s in snapshots]
    output.table(rows, ["SNAPSHOT", "TIME", "VOLUMES", "SERVICE"])


def _size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"
