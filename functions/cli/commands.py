"""The ``cfa`` commands: each turns parsed arguments into one operation call and prints the result."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from functions.cli import backup as backup_cli
from functions.cli import capacity as capacity_command
from functions.cli import output
from functions.context import Context, open_context
from functions.operations.changes import ChangePlan
from functions.operations.delete import delete
from functions.operations.doctor import Check, doctor, setup_failed
from functions.operations.hooks import install_hooks
from functions.operations.lifecycle import StackResult
from functions.operations.migrate import migrate_all
from functions.operations.provision import ProvisionRequest, provision
from functions.operations.resume import resume
from functions.operations.rotate import RotateResult, rotate
from functions.operations.status import Overview, TenantStatus, overview, status
from functions.operations.suspend import suspend
from functions.operations.tenant_lifecycle import delete_tenant, resume_tenant, suspend_tenant, update_tenant
from functions.operations.tenants import create_tenant, list_tenants
from functions.operations.unlock import unlock
from functions.operations.volumes import copy_volume, list_volumes
from functions.progress import LogProgress, TerminalProgress
from shared.catalog import Template
from shared.compose_loader import find_compose
from shared.errors import ConfigurationError, InvalidInput
from shared.naming import parse_stack_ref, validate_slug, validate_stack_name
from shared.params import describe_format, validate_params
from shared.plans import get_plan
from shared.pocketbase.client import PocketBase
from shared.pocketbase.embedded import embedded_status, stop_embedded
from shared.rendering import render_stack
from shared.settings import Settings


def parse_params(pairs: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs; ``KEY=@FILE`` reads the value from FILE (trailing newline dropped)."""
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidInput(
                "param", f"{pair[:40]!r} is not KEY=VALUE", advice="e.g. --param model=gpt-4o-mini"
            )
        if key in params:
            raise InvalidInput(f"param {key}", "is given twice")
        if value.startswith("@"):
            path = Path(value[1:])
            try:
                value = path.read_text().removesuffix("\n")
            except OSError as err:
                raise InvalidInput(
                    f"param {key}", f"cannot read {path}: {err.strerror}", advice="check the file's path"
                ) from err
            if not value.strip():
                raise InvalidInput(
                    f"param {key}",
                    f"{path} is empty",
                    advice="put the value in the file, or pass it as KEY=VALUE",
                )
        params[key] = value
    return params


async def dispatch(args: argparse.Namespace, settings: Settings) -> int:
    command = args.command
    if command == "templates":
        return await _templates(args, settings)
    dry_run = bool(getattr(args, "dry_run", False))
    if command == "pb" and args.pb_command == "stop":
        stopped = stop_embedded(settings.data_dir)
        if args.json:
            output.emit_json({"stopped": stopped, "data_dir": str(settings.data_dir.resolve())})
        else:
            output.say("embedded PocketBase stopped" if stopped else "no embedded PocketBase was running")
        return 0
    if command == "pb" and args.pb_command == "status":
        return await _pb_status(settings, args)
    changes_coolify = command in ("provision", "suspend", "resume", "delete", "rotate")
    changes_coolify = changes_coolify or (command == "backup" and backup_cli.changes_coolify(args))
    try:
        context = open_context(settings, dry_run=dry_run, changes_coolify=changes_coolify)
        async with context as ctx:
            ctx.progress = TerminalProgress() if sys.stderr.isatty() else LogProgress()
            ctx.lock_wait = max(0.0, float(getattr(args, "wait_lock", 0.0) or 0.0))
            handler = _HANDLERS[command]
            return await handler(ctx, args)
    except ConfigurationError as err:
        if command != "doctor":
            raise
        return _print_checks(args, setup_failed(settings, err))


async def _pb_status(settings: Settings, args: argparse.Namespace) -> int:
    """Where PocketBase is and whether it answers; a stopped embedded one is reported, not started."""
    if settings.pocketbase_url is None:
        url, healthy = embedded_status(settings.data_dir)
    else:
        url = str(settings.pocketbase_url).rstrip("/")
        async with PocketBase(url, "", SecretStr("")) as pb:
            healthy = await pb.health()
    info = {
        "url": url or "-",
        "embedded": settings.pocketbase_url is None,
        "healthy": healthy,
        "data_dir": str(settings.data_dir.resolve()),
    }
    if args.json:
        output.emit_json(info)
    else:
        output.table([list(info.values())], list(info))
        if not healthy and settings.pocketbase_url is None:
            output.say("the embedded PocketBase is not running; any other cfa command starts it")
    return 0 if healthy else 75


async def _pb(ctx: Context, args: argparse.Namespace) -> int:
    report = await migrate_all(ctx.pb)
    if args.json:
        output.emit_json(report.as_dict())
    elif not report.changed:
        output.say("PocketBase schema is up to date; nothing changed.")
    else:
        for name in report.created:
            output.say(f"created collection {name}")
        for name, fields in report.fields_added.items():
            output.say(f"added to {name}: {', '.join(fields)}")
        for name, indexes in report.indexes_added.items():
            output.say(f"added indexes to {name}: {', '.join(indexes)}")
        for name, by_field in report.values_added.items():
            for field_name, values in by_field.items():
                output.say(f"added values to {name}.{field_name}: {', '.join(values)}")
    for name, fields in report.kept_foreign_fields.items():
        if not args.json:
            output.say(f"kept existing fields of {name}: {', '.join(fields)}")
    return 0


async def _tenants(ctx: Context, args: argparse.Namespace) -> int:
    action = args.tenants_command
    if action in ("update", "suspend", "resume", "delete"):
        return await _tenant_lifecycle(ctx, args)
    if args.tenants_command == "list":
        tenants = await list_tenants(ctx)
        if args.json:
            output.emit_json(tenants)
        else:
            rows = [[t.slug, t.name, t.plan, t.status, t.coolify_project_uuid or "-"] for t in tenants]
            output.table(rows, ["TENANT", "NAME", "PLAN", "STATUS", "PROJECT"])
        return 0
    tenant, created = await create_tenant(
        ctx, args.slug, plan=args.plan, name=args.name, max_stacks=args.max_stacks
    )
    if args.json:
        output.emit_json({"created": created, "tenant": tenant})
    else:
        verb = "created" if created else "already exists, unchanged:"
        output.say(f"tenant {tenant.slug} {verb} (plan {tenant.plan}, name {tenant.name!r})")
    return 0


async def _tenant_lifecycle(ctx: Context, args: argparse.Namespace) -> int:
    action, wait = args.tenants_command, not args.no_wait
    if action == "update":
        result = await update_tenant(
            ctx, args.slug, plan=args.plan, name=args.name, max_stacks=args.max_stacks, wait=wait
        )
    elif action == "suspend":
        result = await suspend_tenant(ctx, args.slug, wait=wait)
    elif action == "resume":
        result = await resume_tenant(ctx, args.slug, wait=wait)
    else:
        what = "and its stacks' data volumes" if args.delete_volumes else "(data volumes are kept)"
        output.confirm(
            f"delete tenant {args.slug}, every stack of it and its Coolify project {what}",
            answer=args.slug,
            yes=args.yes,
        )
        result = await delete_tenant(ctx, args.slug, delete_volumes=args.delete_volumes, wait=wait)
    if args.json:
        output.emit_json(result)
        return 0
    verb = "unchanged" if not result.changed else {"update": "updated"}.get(action, _PAST[action])
    output.say(f"tenant {result.tenant} {verb} (plan {result.plan}, {result.status})")
    if result.stacks:
        output.table(
            [[o.stack, o.action, o.status or "-", o.error] for o in result.stacks],
            ["STACK", "ACTION", "STATUS", "ERROR"],
        )
    return 0


_PAST = {"suspend": "suspended", "resume": "resumed", "delete": "deleted"}


async def _provision(ctx: Context, args: argparse.Namespace) -> int:
    request = ProvisionRequest(
        tenant=args.tenant,
        template=args.template,
        stack=args.stack,
        params=parse_params(args.param),
        wait=not args.no_wait,
        confirm=args.yes,
    )

    def show_plan(plan: ChangePlan) -> None:
        if not args.json and not plan.new_stack:
            lines = plan.lines()
            output.note(f"changes to {args.tenant}/{plan.stack}:" if lines else "no changes")
            for line in lines:
                output.note(f"  {line}")

    result = await provision(ctx, request, show_plan=show_plan)
    if args.json:
        output.emit_json(result)
    elif result.dry_run:
        output.dry_run_report(result.dry_run_reason, result.calls, result.compose_yaml)
    else:
        output.say(f"{result.tenant}/{result.stack} ({result.template}): {result.status}")
        rows = [
            ["project", result.project_uuid],
            ["service", result.service_uuid],
            ["coolify status", result.coolify_status or "-"],
            ["public url", result.fqdn or "-"],
        ]
        output.table(rows, ["", ""])
    return 0


def _stack_result(args: argparse.Namespace, result: StackResult) -> int:
    if args.json:
        output.emit_json(result)
    elif result.dry_run:
        output.dry_run_report(result.dry_run_reason, result.calls)
    else:
        output.say(f"{result.tenant}/{result.stack}: {result.status} (desired: {result.desired_state})")
        if result.status in ("provisioning", "resuming", "suspending", "deleting", "rotating"):
            output.say(f"queued in Coolify; `cfa status {result.tenant}` shows when it has settled")
        if result.kept_volumes:
            output.say(f"volumes kept on the host: {', '.join(result.kept_volumes)}")
    return 0


async def _suspend(ctx: Context, args: argparse.Namespace) -> int:
    tenant, stack = parse_stack_ref(args.ref)
    return _stack_result(args, await suspend(ctx, tenant, stack, wait=not args.no_wait))


async def _resume(ctx: Context, args: argparse.Namespace) -> int:
    tenant, stack = parse_stack_ref(args.ref)
    return _stack_result(args, await resume(ctx, tenant, stack, wait=not args.no_wait))


async def _rotate(ctx: Context, args: argparse.Namespace) -> int:
    tenant, stack = parse_stack_ref(args.ref)
    params = parse_params(args.param)
    result = await rotate(ctx, tenant, stack, params=params, only=args.only, wait=not args.no_wait)
    if args.json:
        output.emit_json(result)
        return 0
    _print_rotation(result)
    if result.dry_run:
        output.dry_run_report(result.dry_run_reason, result.calls)
    else:
        _stack_result(args, result)
    return 0


def _print_rotation(result: RotateResult) -> None:
    verb = "would rotate" if result.dry_run else "rotated"
    output.say(f"{result.tenant}/{result.stack}: {verb} {', '.join(result.rotated) or 'nothing'}")
    if result.derived:
        output.say(f"derived from them, changed with them: {', '.join(result.derived)}")
    if result.finished:
        output.say(f"finished an interrupted rotation of: {', '.join(result.finished)}")
    if not result.dry_run:
        queued = result.restarted and result.status == "rotating"
        output.say("restarted: " + ("queued" if queued else "yes" if result.restarted else "no"))
    for line in result.notes:
        output.say(f"note: {line}")


async def _delete(ctx: Context, args: argparse.Namespace) -> int:
    tenant, stack = parse_stack_ref(args.ref)
    if args.delete_volumes and not args.dry_run:
        output.confirm(f"delete {args.ref} and its data volumes", answer=args.ref, yes=args.yes)
    result = await delete(ctx, tenant, stack, delete_volumes=args.delete_volumes, wait=not args.no_wait)
    return _stack_result(args, result)


def _print_status(report: TenantStatus) -> None:
    limit = report.stack_limit if report.stack_limit is not None else "?"
    output.say(f"tenant {report.slug} ({report.name}) · plan {report.plan} · {report.status}")
    output.say(f"stacks: {sum(1 for s in report.stacks if s.desired_state != 'deleted')} of {limit}")
    output.say(f"coolify project: {report.project_uuid or '-'}")
    rows = [
        [
            s.name,
            s.template,
            s.desired_state,
            s.status,
            s.coolify_status,
            s.service_uuid or "-",
            s.fqdn or "-",
        ]
        for s in report.stacks
    ]
    output.table(rows, ["STACK", "TEMPLATE", "DESIRED", "STATUS", "COOLIFY", "SERVICE", "URL"])
    for stack in report.stacks:
        if stack.last_error:
            output.say(f"last error of {stack.name}: {stack.last_error}")
        if stack.kept_volumes:
            output.say(f"volumes kept from {stack.name}: {', '.join(stack.kept_volumes)}")
    if report.note:
        output.say(f"note: {report.note}")
        for key, value in (stack.credentials or {}).items():
            output.say(f"credential {stack.name} {key}: {value}")


async def _status(ctx: Context, args: argparse.Namespace) -> int:
    if args.tenant is None:
        if args.show_credentials:
            raise InvalidInput(
                "--show-credentials", "needs a tenant", advice="cfa status TENANT --show-credentials"
            )
        summary = await overview(ctx)
        output.emit_json(summary) if args.json else _print_overview(summary)
        return 0
    report = await status(ctx, args.tenant, show_credentials=args.show_credentials)
    output.emit_json(report) if args.json else _print_status(report)
    return 0


def _print_overview(summary: Overview) -> None:
    rows = [
        [
            t.slug,
            t.plan,
            t.status,
            f"{t.stacks}/{t.stack_limit if t.stack_limit is not None else '?'}",
            f"{t.cpus_reserved:g}",
            f"{t.memory_reserved_mib} MiB",
            ", ".join(f"{k} {v}" for k, v in sorted(t.by_status.items())) or "-",
        ]
        for t in summary.tenants
    ]
    output.table(rows, ["TENANT", "PLAN", "STATUS", "STACKS", "CPUS", "MEMORY", "BY STATUS"])
    totals = ", ".join(f"{k} {v}" for k, v in sorted(summary.by_status.items())) or "no stacks"
    output.say(f"\n{len(summary.tenants)} tenant(s); stacks: {totals}")
    for tenant in summary.tenants:
        if tenant.failing:
            output.say(f"failing in {tenant.slug}: {', '.join(tenant.failing)} (cfa status {tenant.slug})")
        if tenant.drifting:
            output.say(f"drifting in {tenant.slug}: {', '.join(tenant.drifting)} (not in the desired state)")
    for note in summary.notes:
        output.say(f"note: {note}")


async def _doctor(ctx: Context, args: argparse.Namespace) -> int:
    return _print_checks(args, await doctor(ctx))


def _print_checks(args: argparse.Namespace, checks: list[Check]) -> int:
    if args.json:
        output.emit_json(checks)
    else:
        output.table(
            [[c.outcome.upper(), c.name, c.detail, c.advice] for c in checks],
            ["", "CHECK", "DETAIL", "ADVICE"],
        )
    return ConfigurationError.exit_code if any(c.outcome == "fail" for c in checks) else 0


async def _audit(ctx: Context, args: argparse.Namespace) -> int:
    tenant = validate_slug(args.tenant) if args.tenant else None
    if tenant is not None:
        await ctx.store.get_tenant(tenant)  # an unknown tenant is an error, not an empty trail
    events = await ctx.store.list_audit(tenant, limit=max(1, min(args.limit, 1000)))
    if args.json:
        output.emit_json(events)
    else:
        rows = [[e["time"], e["actor"], e["action"], e["tenant"], e["stack"], e["outcome"]] for e in events]
        output.table(rows, ["TIME", "ACTOR", "ACTION", "TENANT", "STACK", "OUTCOME"])
    return 0


async def _templates(args: argparse.Namespace, settings: Settings) -> int:
    from shared.catalog import load_catalog

    catalog = load_catalog(settings.templates_dir)
    if args.templates_command == "list":
        templates = list(catalog)
        if args.json:
            output.emit_json([_template_summary(t) for t in templates])
        else:
            rows = [
                [t.name, t.meta.plan_minimum, "yes" if t.meta.stateful else "no", t.meta.title]
                for t in templates
            ]
            output.table(rows, ["TEMPLATE", "MIN PLAN", "STATEFUL", "TITLE"])
        return 0
    template = catalog.get(args.name)
    if args.templates_command == "show":
        if args.json:
            output.emit_json(template.meta.model_dump(mode="json"))
        else:
            _print_template(template)
        return 0
    slug = validate_slug(args.tenant)
    stack = validate_stack_name(args.stack or template.meta.default_stack_name)
    if args.plan:
        plan = get_plan(args.plan, settings)
    else:
        async with open_context(settings) as ctx:
            plan = get_plan((await ctx.store.get_tenant(slug)).plan, settings)
    params = validate_params(template, parse_params(args.param), require_secrets=False)
    rendered = render_stack(
        template,
        tenant=slug,
        plan=plan,
        stack=stack,
        params=params,
        base_domain=settings.base_domain,
        router_url=str(settings.router_url) if settings.router_url else None,
        loader=find_compose(settings.compose_binary),
    )
    checked = (
        f"loaded by {rendered.loader}"
        if rendered.loader
        else "NOT loaded by Docker Compose: no Compose v2 found (set CFA_COMPOSE_BINARY; "
        "scripts/compose-v2 fetches one)"
    )
    if args.json:
        output.emit_json(
            {
                "compose": rendered.compose_yaml,
                "sha256": rendered.sha256,
                "urls": rendered.urls,
                "compose_loader": rendered.loader or None,
            }
        )
    else:
        output.say(rendered.compose_yaml.rstrip())
    output.note(f"policy and schema checked; {checked}")
    return 0


def _template_summary(template: Template) -> dict[str, Any]:
    return {
        "name": template.name,
        "title": template.meta.title,
        "plan_minimum": template.meta.plan_minimum,
        "stateful": template.meta.stateful,
    }


def _print_template(template: Template) -> None:
    meta = template.meta
    output.say(f"{meta.name}: {meta.title}\n{meta.description}\n")
    output.say(f"plan minimum: {meta.plan_minimum} · stateful: {meta.stateful}")
    output.say(f"default stack name: {meta.default_stack_name}")
    if meta.expose:
        output.say(
            f"public: service {meta.expose.service}, container port {meta.expose.port} (https via Traefik)"
        )
    output.say("\nparameters:")
    rows = [
        [
            p.name,
            p.type,
            "yes" if p.required else "no",
            "yes" if p.secret else "no",
            "" if p.default is None else p.default,
            describe_format(p),
            p.description,
        ]
        for p in meta.parameters
    ]
    output.table(rows, ["NAME", "TYPE", "REQUIRED", "SECRET", "DEFAULT", "FORMAT", "DESCRIPTION"])
    if meta.secrets:
        output.say("\ngenerated secrets:")
        output.table(
            [[s.env, s.kind, s.rotation, s.description] for s in meta.secrets],
            ["ENV", "KIND", "ROTATION", "DESCRIPTION"],
        )
    output.say("\nservices:")
    service_rows = []
    for name, spec in meta.services.items():
        notes = []
        if spec.optional:
            notes.append("optional (only for some parameter values)")
        if spec.root_exception:
            notes.append(f"runs as root: {spec.root_exception.reason}")
        service_rows.append([name, spec.role, "; ".join(notes)])
    output.table(service_rows, ["SERVICE", "ROLE", "NOTES"])
    if meta.volumes:
        output.say("\nvolumes:")
        output.table(
            [[v.name, v.service, v.mount, v.description] for v in meta.volumes],
            ["VOLUME", "SERVICE", "MOUNT", "PURPOSE"],
        )
    output.say("\nresources per plan:")
    rows = []
    for plan, profile in meta.resources.items():
        for service, limits in profile.services.items():
            rows.append([plan, service, limits.cpus, limits.memory, limits.pids, profile.volume_budget])
    output.table(rows, ["PLAN", "SERVICE", "CPUS", "MEMORY", "PIDS", "VOLUME BUDGET"])


async def _hooks(ctx: Context, args: argparse.Namespace) -> int:
    result = await install_hooks(ctx, args.url)
    if args.json:
        output.emit_json(result)
    else:
        output.say(f"Coolify's webhook channel now posts to {result.url}: {', '.join(result.events)}")
    return 0


async def _unlock(ctx: Context, args: argparse.Namespace) -> int:
    result = await unlock(ctx, args.tenant)
    if args.json:
        output.emit_json(result)
    elif result.was_locked:
        output.say(
            f"tenant {result.tenant} unlocked (was held by {result.operation or result.holder}, now gone)"
        )
    else:
        output.say(f"tenant {result.tenant} was not locked")
    return 0


async def _volumes(ctx: Context, args: argparse.Namespace) -> int:
    if args.volumes_command == "copy":
        copied = await copy_volume(ctx, args.source, args.target, image=args.image)
        output.emit_json(copied) if args.json else output.say(f"copied {copied.source} into {copied.target}")
        return 0
    found = await list_volumes(ctx, orphaned=args.orphaned)
    if args.json:
        output.emit_json(found)
    else:
        rows = [[v.name, v.tenant, v.stack, v.state, _size(v.size_bytes)] for v in found]
        output.table(rows, ["VOLUME", "TENANT", "STACK", "STATE", "SIZE"])
    return 0


def _size(size: int | None) -> str:
    if size is None:
        return "?"
    value, unit = float(size), "B"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            break
        value /= 1024
    return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"


_HANDLERS = {
    "pb": _pb,
    "tenants": _tenants,
    "provision": _provision,
    "status": _status,
    "suspend": _suspend,
    "resume": _resume,
    "delete": _delete,
    "rotate": _rotate,
    "doctor": _doctor,
    "capacity": capacity_command.run,
    "audit": _audit,
    "unlock": _unlock,
    "hooks": _hooks,
    "volumes": _volumes,
    "backup": backup_cli.run,
}
