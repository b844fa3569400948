"""Entry point of the ``cfa`` command: parse, run one command, map errors to exit codes.

Exit codes: 0 success, 2 bad input, 3 not found, 4 plan limit, 5 conflict, 6 configuration,
7 authentication/permissions, 8 rejected by Coolify, 9 broken template, 10 the stack failed in Coolify,
11 no capacity (the host budget, CFA_CAPACITY, has no room for it), 75 temporary failure (retry
later), 1 internal error (a bug), 130/143/129 interrupted by SIGINT, SIGTERM or SIGHUP (a dropped SSH
session): the operation is cancelled and its tenant lock released.
On failure one line goes to stderr: ``cfa: <what was wrong> — <what to do>``. Output into a closed pipe
(``cfa audit | head -1``) is not an error.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from shared import redaction
from shared.errors import CfaError
from shared.logging import configure_logging, get_logger
from shared.settings import Settings

log = get_logger()


def _json_flag() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--json", action="store_true", help="machine-readable output")
    parent.add_argument(
        "--log-json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="full JSON logs on stderr even at a terminal",
    )
    return parent


def _lock_flag() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--wait-lock",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="if another operation holds the tenant's lock, wait this long for it instead of failing",
    )
    return parent


def build_parser() -> argparse.ArgumentParser:
    from functions.cli import backup as backup_cli
    from functions.operations.volumes import COPY_IMAGE

    common = _json_flag()
    locking = _lock_flag()
    parser = argparse.ArgumentParser(
        prog="cfa",
        description="CloudFreedom agent platform: tenant-scoped stacks on Coolify.",
        epilog="Settings come from CFA_* environment variables (see README.md).",
    )
    parser.add_argument("--log-json", action="store_true", help="full JSON logs on stderr even at a terminal")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    pb = sub.add_parser("pb", help="PocketBase: migrate the schema, embedded server status/stop")
    pb_sub = pb.add_subparsers(dest="pb_command", required=True, metavar="ACTION")
    pb_sub.add_parser("migrate", parents=[common], help="create/upgrade the collections (idempotent)")
    pb_sub.add_parser("status", parents=[common], help="where PocketBase is and whether it answers")
    pb_sub.add_parser("stop", parents=[common], help="stop the embedded PocketBase")

    tenants = sub.add_parser("tenants", help="create, list, update, suspend, resume and delete tenants")
    tenants_sub = tenants.add_subparsers(dest="tenants_command", required=True, metavar="ACTION")
    create = tenants_sub.add_parser("create", parents=[common], help="create a tenant (idempotent)")
    create.add_argument("slug", help="the tenant's slug: 3-30 of a-z 0-9 -, starting with a letter")
    create.add_argument("--plan", required=True, help="starter, team, business or sovereign")
    create.add_argument("--name", help="display name (default: the slug)")
    create.add_argument("--max-stacks", type=int, help="stack limit (required for sovereign)")
    tenants_sub.add_parser("list", parents=[common], help="list tenants")
    update = tenants_sub.add_parser(
        "update",
        parents=[common, locking],
        help="change plan, name or stack limit; a plan change redeploys every stack under its limits",
    )
    update.add_argument("slug", help="the tenant's slug")
    update.add_argument("--plan", help="the new plan (refused with nothing changed if the stacks do not fit)")
    update.add_argument("--name", help="the new display name")
    update.add_argument("--max-stacks", type=int, help="the new stack limit (sovereign)")
    update.add_argument("--no-wait", action="store_true", help="do not wait for redeployed stacks")
    for name, text in (
        ("suspend", "stop every running stack of the tenant"),
        ("resume", "start again the stacks the tenant's suspension stopped"),
        ("delete", "delete every stack of the tenant and its Coolify project (volumes kept by default)"),
    ):
        tenant_action = tenants_sub.add_parser(name, parents=[common, locking], help=text)
        tenant_action.add_argument("slug", help="the tenant's slug")
        tenant_action.add_argument("--no-wait", action="store_true", help="do not wait for Coolify")
        if name == "delete":
            tenant_action.add_argument(
                "--delete-volumes", action="store_true", help="also delete the stacks' data volumes"
            )
            tenant_action.add_argument("--yes", action="store_true", help="confirm without asking")

    provision = sub.add_parser(
        "provision", parents=[common, locking], help="create or update a stack, start it"
    )
    provision.add_argument("tenant", help="the tenant's slug")
    provision.add_argument("template", help="the stack template (cfa templates list)")
    provision.add_argument("--name", dest="stack", help="stack name (default: the template's)")
    provision.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="template parameter; KEY=@FILE reads the value from a file (use it for secrets)",
    )
    provision.add_argument("--dry-run", action="store_true", help="show every Coolify call; change nothing")
    provision.add_argument("--no-wait", action="store_true", help="do not wait for running:healthy")
    provision.add_argument(
        "--yes", action="store_true", help="confirm a change that removes a service or a volume"
    )

    status = sub.add_parser(
        "status",
        parents=[common],
        help="a tenant's stacks with live Coolify status; without one, every tenant",
    )
    status.add_argument("tenant", nargs="?", help="the tenant's slug (omit it for an overview of all)")
    status.add_argument(
        "--show-credentials", action="store_true", help="show generated credentials (audited)"
    )

    for name, text in (("suspend", "stop a stack"), ("resume", "start a suspended stack")):
        action = sub.add_parser(name, parents=[common, locking], help=text)
        action.add_argument("ref", metavar="TENANT/STACK", help="the stack, e.g. acme/bot")
        action.add_argument("--dry-run", action="store_true", help="show the Coolify calls; change nothing")
        action.add_argument("--no-wait", action="store_true", help="do not wait for the new state")

    rotate = sub.add_parser(
        "rotate",
        parents=[common, locking],
        help="new values for a stack's secrets: stored, pushed to Coolify, stack restarted",
    )
    rotate.add_argument("ref", metavar="TENANT/STACK", help="the stack, e.g. acme/bot")
    rotate.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a new value for a secret parameter the tenant supplies; KEY=@FILE reads it from a file",
    )
    rotate.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="rotate only this generated secret (repeatable; default: every routine one)",
    )
    rotate.add_argument("--dry-run", action="store_true", help="say what would rotate; change nothing")
    rotate.add_argument("--no-wait", action="store_true", help="do not wait for the restarted stack")

    delete = sub.add_parser(
        "delete", parents=[common, locking], help="delete a stack (volumes kept by default)"
    )
    delete.add_argument("ref", metavar="TENANT/STACK", help="the stack, e.g. acme/bot")
    retention = delete.add_mutually_exclusive_group()
    retention.add_argument("--keep-volumes", action="store_true", help="keep the data volumes (the default)")
    retention.add_argument("--delete-volumes", action="store_true", help="also delete the data volumes")
    delete.add_argument("--yes", action="store_true", help="confirm --delete-volumes without asking")
    delete.add_argument("--dry-run", action="store_true", help="show the Coolify calls; change nothing")
    delete.add_argument("--no-wait", action="store_true", help="do not wait until Coolify has removed it")

    templates = sub.add_parser("templates", help="list, show and render stack templates")
    templates_sub = templates.add_subparsers(dest="templates_command", required=True, metavar="ACTION")
    templates_sub.add_parser("list", parents=[common], help="list templates")
    show = templates_sub.add_parser("show", parents=[common], help="a template's parameters and profiles")
    show.add_argument("name", help="the template (cfa templates list)")
    render = templates_sub.add_parser("render", parents=[common], help="print the compose for a tenant")
    render.add_argument("name", help="the template (cfa templates list)")
    render.add_argument("--tenant", required=True, help="the tenant's slug (its labels and host names)")
    render.add_argument("--plan", help="default: the tenant's plan")
    render.add_argument("--stack", help="stack name (default: the template's)")
    render.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="template parameter (KEY=@FILE reads a file)",
    )

    sub.add_parser("doctor", parents=[common], help="check Coolify, PocketBase, settings and templates")
    sub.add_parser(
        "capacity",
        parents=[common],
        help="allocated / budget per Coolify server and resource, and how many more stacks fit",
    )

    volumes = sub.add_parser("volumes", help="the tenants' Docker volumes on the Coolify host")
    volumes_sub = volumes.add_subparsers(dest="volumes_command", required=True, metavar="ACTION")
    listing = volumes_sub.add_parser(
        "list", parents=[common], help="volumes with tenant, stack, state and size"
    )
    listing.add_argument(
        "--orphaned", action="store_true", help="only volumes kept by a delete that no service uses"
    )
    copy = volumes_sub.add_parser(
        "copy",
        parents=[common],
        help="copy a kept volume into a stack's new one (see runbooks/kept-volumes.md)",
    )
    copy.add_argument("source", help="the kept volume (cfa volumes list --orphaned)")
    copy.add_argument("target", help="the re-provisioned stack's volume (suspend the stack first)")
    copy.add_argument("--image", default=COPY_IMAGE, help=f"an image with sh and cp (default {COPY_IMAGE})")

    backup_cli.add_parser(sub, common, locking)

    hooks = sub.add_parser("hooks", help="Coolify's webhook channel")
    hooks_sub = hooks.add_subparsers(dest="hooks_command", required=True, metavar="ACTION")
    install = hooks_sub.add_parser(
        "install", parents=[common], help="point Coolify's team webhook channel at cfa serve"
    )
    install.add_argument(
        "--url", required=True, help="where Coolify reaches cfa serve, e.g. https://functions.example.com"
    )

    sub.add_parser(
        "serve",
        help="run the event functions: PocketBase realtime, Coolify webhooks, status poller, reconciler",
    )

    unlock = sub.add_parser(
        "unlock", parents=[common], help="free a tenant's lock whose holder is gone (audited)"
    )
    unlock.add_argument("tenant", help="the tenant's slug")

    audit = sub.add_parser("audit", parents=[common], help="recent audit events")
    audit.add_argument("tenant", nargs="?", help="only this tenant's events (default: all)")
    audit.add_argument("--limit", type=int, default=50)

    monitor = sub.add_parser("monitor", help="the host monitor (see cfa monitor --help)", add_help=False)
    monitor.add_argument(
        "monitor_args", nargs=argparse.REMAINDER, help="the monitor's own command and options"
    )
    return parser


class Interrupted(Exception):
    """The process got SIGTERM or SIGHUP; the running operation was cancelled like on Ctrl-C."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the command; SIGTERM and SIGHUP cancel it as Ctrl-C does, so its lock is released."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    received: list[int] = []

    def interrupt(signum: int) -> None:
        received.append(signum)
        task.cancel()

    for signum in (signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(signum, interrupt, signum)
    try:
        # Imported here: `cfa monitor run` (a long-lived sidecar) never loads the command layer.
        from functions.cli import commands

        return await commands.dispatch(args, settings)
    except asyncio.CancelledError:
        if received:
            raise Interrupted(received[0]) from None
        raise
    finally:
        for signum in (signal.SIGTERM, signal.SIGHUP):
            loop.remove_signal_handler(signum)


def _serve(settings: Settings) -> int:
    """``cfa serve`` handles SIGTERM and SIGINT itself (uvicorn): drain, release locks, exit 0."""
    from functions.serve import serve

    try:
        return asyncio.run(serve(settings))
    except CfaError as err:
        print(f"cfa: {err.one_line()}", file=sys.stderr)
        return err.exit_code


def _quiet_closed_stdout() -> int:
    """stdout was a pipe whose reader left (``| head``): the work is done; say nothing more."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 0


def _run_monitor(argv: list[str]) -> int:
    try:
        from monitor.cli import main as monitor_main
    except ImportError as err:
        raise SystemExit(f"cfa: the monitor is not installed ({err})") from err
    code: int = monitor_main(argv)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["monitor"]:
        # The monitor has its own parser (python -m monitor); hand it everything, --help included.
        return _run_monitor(arguments[1:])
    args = build_parser().parse_args(arguments)
    try:
        settings = Settings()
    except ValidationError as err:
        problems = "; ".join(f"CFA_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in err.errors())
        print(f"cfa: invalid settings: {problems}", file=sys.stderr)
        return 6
    human = sys.stderr.isatty() and not getattr(args, "log_json", False)
    configure_logging(settings.log_level, human=human, file=settings.log_file)
    if args.command == "serve":
        return _serve(settings)
    try:
        return asyncio.run(_run(args, settings))
    except BrokenPipeError:
        return _quiet_closed_stdout()
    except CfaError as err:
        log.info("cli.failed", error=err.kind, exit_code=err.exit_code)
        print(f"cfa: {err.one_line()}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("cfa: interrupted; re-running the same command is safe", file=sys.stderr)
        return 130
    except Interrupted as err:
        log.info("cli.interrupted", signal=str(err))
        print(f"cfa: interrupted by {err}; re-running the same command is safe", file=sys.stderr)
        return 128 + err.signum
    except Exception as err:
        log.exception("cli.crashed")
        detail = redaction.scrub(str(err))
        print(
            f"cfa: internal error: {type(err).__name__}: {detail} (a bug; see the log above)", file=sys.stderr
        )
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
