"""``cfa capacity``: allocated / budget per Coolify server and resource, and how many more stacks fit."""

from __future__ import annotations

import argparse

from functions.cli import output
from functions.context import Context
from functions.operations.capacity import CapacityReport, TemplateFit, capacity_report, describe_line
from shared.capacity import format_bytes


async def run(ctx: Context, args: argparse.Namespace) -> int:
    report = await capacity_report(ctx)
    output.emit_json(report) if args.json else show(report)
    return 0


def _fits(fit: TemplateFit | None) -> str:
    return "?" if fit is None or fit.fits is None else str(fit.fits)


def show(report: CapacityReport) -> None:
    ratios = ", ".join(f"{name} x{ratio:g}" for name, ratio in report.overcommit.items())
    where = "budgets from CFA_CAPACITY" if report.configured else "no budget configured (CFA_CAPACITY)"
    output.say(f"capacity: {where}; overcommit {ratios}")
    rows = []
    for server in report.servers:
        label = f"{server.name} ({server.uuid})" if server.name else server.uuid
        lines = {line.resource: describe_line(line) for line in server.resources}
        rows.append(
            [
                label,
                server.coolify,
                "yes" if server.new_stacks else "no",
                server.budget_source or "-",
                len(server.stacks),
                lines["cpu"],
                lines["memory"],
                lines["disk"],
            ]
        )
    output.table(
        rows,
        ["SERVER", "COOLIFY", "NEW STACKS", "BUDGET", "STACKS", "CPU", "MEMORY", "DISK"],
    )
    columns = [s for s in report.servers if s.new_stacks]
    output.say("\nmore stacks that fit (each claiming all its services and its volume budget):")
    fit_rows = []
    for total in report.fits:
        claim = f"{total.cpus:g} CPUs, {format_bytes(total.memory_bytes)}"
        if total.volume_bytes:
            claim += f", {format_bytes(total.volume_bytes)} disk"
        per_server = [
            _fits(next((f for f in s.fits if (f.template, f.plan) == (total.template, total.plan)), None))
            for s in columns
        ]
        fit_rows.append([total.template, total.plan, claim, *per_server, _fits(total)])
    output.table(fit_rows, ["TEMPLATE", "PLAN", "CLAIM", *(s.name or s.uuid[:12] for s in columns), "TOTAL"])
    for name in report.unplaced:
        output.say(f"note: {name} has no recorded server: it is counted on every server")
    for name in report.uncounted:
        output.say(f"note: {name} could not be counted (its template or plan is gone)")
    for note in report.notes:
        output.say(f"note: {note}")
