"""Coolify reported a server unreachable, reachable again, or above its disk threshold.

Each is audited and alerted (a server that is reachable again resolves the unreachable alert); every
tenant stack on that server depends on it, so on-call hears of it at once.
"""

from __future__ import annotations

from functions.alerts import Alert, Severity
from functions.events import CoolifyServerChanged
from functions.runtime import Runtime

_ALERTS: dict[str, tuple[Severity, str, str]] = {
    "unreachable": ("critical", "Coolify server {name} is unreachable", "coolify-server-unreachable"),
    "reachable": ("resolved", "Coolify server {name} is reachable again", "coolify-server-unreachable"),
    "disk_usage": ("warning", "Coolify server {name}: disk usage is high", "coolify-disk-usage"),
}


async def handle(rt: Runtime, event: CoolifyServerChanged, attempt: int) -> None:
    ctx = rt.context()
    await ctx.store.audit(
        f"coolify.server_{event.kind}",
        outcome="ok" if event.kind == "reachable" else "failed",
        details={
            "server": event.server_name,
            "server_uuid": event.server_uuid,
            "detail": event.detail,
            "url": event.url,
        },
    )
    await ctx.store.flush()
    severity, title, runbook = _ALERTS[event.kind]
    rt.alerter.send(
        Alert(
            severity=severity,
            title=title.format(name=event.server_name or event.server_uuid),
            body=f"{event.detail}\nServer {event.server_uuid}; Coolify: {event.url or '-'}".strip(),
            runbook=runbook,
        )
    )
