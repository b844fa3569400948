"""Coolify reported a scheduled task of a service finished (``task_success`` / ``task_failed``).

Audited on the stack that owns the service (or without one, when no stack has that service); a failure
is also alerted. The task's output is kept short and scrubbed of every known secret.
"""

from __future__ import annotations

from functions.alerts import Alert
from functions.events import CoolifyTaskFinished
from functions.records import Stack
from functions.runtime import Runtime
from shared import redaction
from shared.pocketbase.filters import pb_filter


async def handle(rt: Runtime, event: CoolifyTaskFinished, attempt: int) -> None:
    ctx = rt.context()
    record = await ctx.pb.first(
        "stacks", pb_filter("coolify_service_uuid = {:uuid}", uuid=event.service_uuid)
    )
    stack = Stack.model_validate(record) if record else None
    tenant = await ctx.pb.get_record("tenants", stack.tenant) if stack else None
    slug, name = (str(tenant["slug"]), stack.name) if stack and tenant else ("", "")
    output = redaction.scrub(event.output[-500:])
    await ctx.store.audit(
        "coolify.task_succeeded" if event.succeeded else "coolify.task_failed",
        outcome="ok" if event.succeeded else "failed",
        tenant=slug,
        stack=name,
        details={
            "task": event.task_name,
            "service_uuid": event.service_uuid,
            "output": output,
            "url": event.url,
        },
    )
    await ctx.store.flush()
    if not event.succeeded:
        where = f"{slug}/{name}" if slug else f"service {event.service_uuid} (no stack record)"
        rt.alerter.send(
            Alert(
                severity="warning",
                title=f"scheduled task {event.task_name} failed on {where}",
                body=f"Coolify: {event.url or '-'}\nLast output:\n{output or '(none)'}",
                runbook="coolify-task-failed",
            )
        )
