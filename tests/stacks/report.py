"""Resource figures measured by a stack run, one JSON line per service in ``$CFA_STACKS_REPORT``;
``scripts/stacks/run`` prints them as a table at the end (only what that run measured)."""

from __future__ import annotations

import json
import time
from typing import Any

from tests.stacks.harness import RunEnv, StackRun
from tests.stacks.kernel import Applied, applied, memory_figures

MIB = 1024 * 1024


def record(run: RunEnv, row: dict[str, Any]) -> None:
    with run.report.open("a") as out:
        out.write(json.dumps(row) + "\n")


def figures(
    found: Applied, *, template: str, plan: str, service: str, healthy: float | None
) -> dict[str, Any]:
    memory = memory_figures(found)
    return {
        "template": template,
        "plan": plan,
        "service": service,
        "rss_mib": round(memory["rss_bytes"] / MIB, 1),
        "usage_mib": round(memory["usage_bytes"] / MIB, 1),
        "peak_mib": round(memory["peak_bytes"] / MIB, 1),
        "peak_process_rss_mib": round(memory["peak_process_rss_bytes"] / MIB, 1),
        "limit_hits": memory["limit_hits"],
        "limit_mib": round((found.host_config.get("Memory") or 0) / MIB),
        "start_to_healthy_s": round(healthy, 1) if healthy is not None else None,
        "measured_at": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }


def record_idle(run: RunEnv, api: Any, stack: StackRun, services: list[str], *, note: str = "") -> None:
    """Memory of each (running) service now and at its peak, against its plan limit, and its
    start-to-healthy time."""
    for service in services:
        found = applied(api, stack.container(service))
        row = figures(
            found,
            template=stack.rendered.template,
            plan=stack.rendered.plan,
            service=service,
            healthy=stack.healthy_seconds.get(service),
        )
        record(run, {**row, "note": note})
