"""``cfa monitor …`` / ``python -m monitor …``: run the sidecar, manage silences, list incidents.

Exit codes: 0 ok, 2 bad input, otherwise the ``exit_code`` of the ``shared.errors`` class raised
(6 configuration, 75 retryable such as an undeliverable test notification); 1 is a bug.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import signal
import sys
import time
from datetime import UTC, datetime
from typing import Any, TextIO

from pydantic import ValidationError

from monitor.findings import Kind
from monitor.store import Database, db_path
from monitor.units import human_duration, parse_duration
from shared.errors import CfaError, ConfigurationError, InvalidInput, NotFoundError, UnavailableError
from shared.logging import configure_logging
from shared.settings import Settings, load_settings

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def _when(ts: float | None) -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cfa monitor", description="Docker events and disk → alerts.")
    machine = argparse.ArgumentParser(add_help=False)
    machine.add_argument("--json", action="store_true", help="machine-readable output")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("run", help="run the sidecar (until SIGTERM/SIGINT)")
    silence = commands.add_parser(
        "silence", parents=[machine], help="silence a tenant (or one stack / kind) for a while"
    )
    silence.add_argument("--tenant", required=True, help="tenant slug (must exist in PocketBase)")
    silence.add_argument("--stack", help="only this stack (must exist)")
    silence.add_argument("--kind", choices=[k.value for k in Kind], help="only this kind of alert")
    silence.add_argument("--for", dest="duration", required=True, help="how long: 30m, 2h, 1h30m, 1d")
    silence.add_argument("--reason", default="maintenance", help="shown in `silences`")
    silence.add_argument(
        "--unchecked",
        action="store_true",
        help="do not check the names in PocketBase (when it is down and the page storm is not)",
    )
    listing = commands.add_parser("silences", parents=[machine], help="list active silences")
    listing.add_argument("--all", action="store_true", help="include expired and lifted ones")
    unsilence = commands.add_parser("unsilence", parents=[machine], help="lift a silence now")
    unsilence.add_argument("silence_id", help="the id `cfa monitor silences` shows")
    incidents = commands.add_parser("incidents", parents=[machine], help="list incidents (firing by default)")
    incidents.add_argument("--all", action="store_true", help="include resolved ones")
    test = commands.add_parser(
        "test-notify", parents=[machine], help="send a test message through Apprise now"
    )
    test.add_argument("--tag", choices=["critical", "warning", "resolved"], default="warning")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    try:
        try:
            settings = load_settings() if argv is None else Settings()
        except ValidationError as err:
            raise ConfigurationError(
                f"invalid settings: {_first_error(err)}", advice="check the CFA_ environment variables"
            ) from None
        configure_logging(settings.log_level)
        return _dispatch(args, settings, sys.stdout)
    except CfaError as err:
        sys.stderr.write(f"cfa monitor: {err.one_line()}\n")
        return err.exit_code
    except KeyboardInterrupt:
        return 130


def _first_error(err: ValidationError) -> str:
    first = err.errors()[0]
    field = ".".join(str(part) for part in first.get("loc", ()))
    return f"CFA_{field.upper()}: {first.get('msg', 'invalid')}"


def _dispatch(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    if args.command == "run":
        return run(settings)
    if args.command == "test-notify":
        return test_notify(settings, args.tag, args.json, out)
    db = Database(db_path(settings.data_dir))
    try:
        if args.command == "silence":
            return silence(db, settings, args, out)
        if args.command == "silences":
            return list_silences(db, args.all, args.json, out)
        if args.command == "unsilence":
            return unsilence(db, args.silence_id, args.json, out)
        return list_incidents(db, args.all, args.json, out)
    finally:
        db.close()


def silence(db: Database, settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    from monitor.silences import SilenceStore

    if not _NAME.match(args.tenant):
        raise InvalidInput("--tenant", f"{args.tenant!r} is not a tenant slug")
    if args.stack is not None and not _NAME.match(args.stack):
        raise InvalidInput("--stack", f"{args.stack!r} is not a stack name")
    try:
        duration = parse_duration(args.duration)
    except ValueError as err:
        raise InvalidInput("--for", str(err)) from None
    if not 0 < duration <= 30 * 86400:
        raise InvalidInput("--for", "must be between 1 second and 30 days")
    if args.unchecked:
        pass
    elif settings.pocketbase_url is None:
        # Like `monitor run`, which reads tenants from PocketBase only when one is configured: never
        # start an embedded PocketBase just to check a name.
        sys.stderr.write("cfa monitor: names not checked (CFA_POCKETBASE_URL is not set)\n")
    else:
        asyncio.run(_check_names(settings, args.tenant, args.stack))
    created = SilenceStore(db).add(
        tenant=args.tenant,
        stack=args.stack,
        kind=args.kind,
        now=time.time(),
        duration=duration,
        reason=args.reason,
        created_by=settings.actor,
    )
    if args.json:
        json.dump(created.model_dump(), out, indent=2)
        out.write("\n")
        return 0
    print(
        f"silence {created.id}: {created.scope()} until {_when(created.ends_at)} "
        f"({human_duration(duration)})",
        file=out,
    )
    return 0


async def _check_names(settings: Settings, tenant: str, stack: str | None) -> None:
    """Refuse a tenant (or stack) PocketBase does not know — a typo would silence nothing while the
    real tenant keeps paging — with the closest name as a hint."""
    from shared.naming import did_you_mean
    from shared.pocketbase.connect import pocketbase_from_settings
    from shared.pocketbase.filters import pb_filter

    try:
        pb = pocketbase_from_settings(settings)
    except CfaError as err:
        raise type(err)(err.message, advice=f"{err.advice}; or pass --unchecked") from None
    async with pb:
        try:
            record = await pb.first("tenants", pb_filter("slug = {:slug}", slug=tenant))
            if record is None:
                slugs = [str(t["slug"]) for t in await pb.list_records("tenants", fields="slug")]
                raise NotFoundError(
                    f"tenant {tenant!r} does not exist, so this silence would silence nothing",
                    advice=f"{did_you_mean(tenant, slugs)}see cfa tenants list",
                )
            if stack is None:
                return
            stacks = await pb.list_records(
                "stacks", filter=pb_filter("tenant = {:id}", id=str(record["id"])), fields="name"
            )
            names = [str(s["name"]) for s in stacks]
            if stack not in names:
                raise NotFoundError(
                    f"tenant {tenant} has no stack {stack!r}, so this silence would silence nothing",
                    advice=f"{did_you_mean(stack, names)}see cfa status {tenant}",
                )
        except UnavailableError as err:
            raise UnavailableError(
                f"cannot check the names in PocketBase: {err.message}",
                advice="retry, or pass --unchecked to silence without checking",
            ) from None


def list_silences(db: Database, include_expired: bool, as_json: bool, out: TextIO) -> int:
    from monitor.silences import SilenceStore

    now = time.time()
    rows = SilenceStore(db).list(now, include_expired=include_expired)
    if as_json:
        json.dump([s.model_dump() for s in rows], out, indent=2)
        out.write("\n")
        return 0
    if not rows:
        print("no active silences", file=out)
    for s in rows:
        state = "active" if s.active(now) else ("lifted" if s.cancelled_at else "expired")
        print(
            f"{s.id}  {state:7}  {s.scope():40}  until {_when(s.ends_at)}  by {s.created_by}: {s.reason}",
            file=out,
        )
    return 0


def unsilence(db: Database, silence_id: str, as_json: bool, out: TextIO) -> int:
    from monitor.silences import SilenceStore

    if not SilenceStore(db).cancel(silence_id, time.time()):
        raise NotFoundError(f"no active silence {silence_id}", advice="see `cfa monitor silences`")
    if as_json:
        json.dump({"id": silence_id, "lifted": True}, out)
        out.write("\n")
        return 0
    print(f"silence {silence_id} lifted", file=out)
    return 0


def list_incidents(db: Database, include_resolved: bool, as_json: bool, out: TextIO) -> int:
    from monitor.incidents import IncidentStore

    rows = IncidentStore(db).all(include_resolved=include_resolved)
    if as_json:
        json.dump([i.model_dump(mode="json") for i in rows], out, indent=2)
        out.write("\n")
        return 0
    if not rows:
        print("no incidents" if include_resolved else "no firing incidents", file=out)
    for i in rows:
        who = f"{i.tenant}/{i.stack}" if i.tenant else "-"
        paged = (
            f"paged {i.notifications}x"
            if i.notifications
            else (f"held: {i.suppressed}" if i.suppressed else "")
        )
        print(
            f"{i.id}  {i.state:8} {i.severity.value:8} {i.kind.value:19} {who:24} {i.subject:30} "
            f"since {_when(i.opened_at)}  {paged}",
            file=out,
        )
    return 0


def test_notify(settings: Settings, tag: str, as_json: bool, out: TextIO) -> int:
    from monitor.messages import NOTIFY_TYPES, Message
    from monitor.notifier import AppriseNotifier, DeliveryStatus

    if settings.apprise_urls is None and settings.apprise_config is None:
        raise ConfigurationError(
            "no Apprise URLs are configured, so no alert can reach anyone",
            advice="set CFA_APPRISE_URLS (e.g. tgram://BOT_TOKEN/CHAT_ID) or CFA_APPRISE_CONFIG",
        )
    notifier = AppriseNotifier.from_settings(settings)
    message = Message(
        title=f"[{tag.upper()}] Test message from the CloudFreedom monitor",
        body="If you read this, alerts with this tag reach you.",
        tag=tag,
        notify_type=NOTIFY_TYPES[tag],
        items=[],
    )
    outcome = notifier.send(message)
    if outcome.status is not DeliveryStatus.DELIVERED:
        raise UnavailableError(
            f"test message {outcome.status.value}: {outcome.detail}", advice="check the Apprise URLs"
        )
    if as_json:
        json.dump({"delivered": True, "tag": tag, "services": notifier.services}, out)
        out.write("\n")
        return 0
    print(f"delivered to {notifier.services} service(s) tagged {tag}", file=out)
    return 0


def run(settings: Settings) -> int:
    return asyncio.run(_run(settings))


async def _run(settings: Settings) -> int:
    from monitor.service import Monitor

    directory: Any = None
    mirror: Any = None
    if settings.pocketbase_url and settings.pocketbase_email and settings.pocketbase_password:
        from monitor.directory import catalog_budgets
        from monitor.pocketbase import IncidentMirror, PocketBaseDirectory
        from shared.pocketbase.client import PocketBase

        pb = PocketBase(str(settings.pocketbase_url), settings.pocketbase_email, settings.pocketbase_password)
        directory = PocketBaseDirectory(pb, catalog_budgets(settings.templates_dir))
        mirror = IncidentMirror(pb, settings.runbook_base_url)
    monitor = Monitor(settings, directory=directory, mirror=mirror)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, monitor.request_stop)
    await monitor.run()
    return 0
