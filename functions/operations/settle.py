"""From an observation of Coolify to the stack's recorded status: the only way to an end state.

An operation records intent (``desired_state``) and, when it queues work in Coolify, a *transitional*
status (``provisioning``, ``resuming``, ``suspending``, ``deleting``, ``rotating``) with
``transition_at``. Nothing but an observation of Coolify moves the stack on from there: :func:`decide`
(pure) says what a status string (or the service's absence) means for the stack, and :func:`settle`
writes that back. Callers: an operation that waits (``await_settled``), ``cfa status`` (under a
try-lock), and the event functions' status poller. Every end state reached is audited once, as
``<action>.completed`` or ``<action>.failed``, by whoever observed it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from functions.context import Context
from functions.operations.digest import applied_digest
from functions.records import Stack, Tenant
from shared.coolify.models import ServiceStatus
from shared.logging import get_logger

log = get_logger()

# The operation whose queued work each transitional status waits for.
TRANSITIONS = {
    "provisioning": "provision",
    "resuming": "resume",
    "suspending": "suspend",
    "deleting": "delete",
    "rotating": "rotate",
}
TRANSITIONAL = frozenset(TRANSITIONS)
# Right after a start is queued Coolify may still report the old ``exited`` for a moment; an
# ``exited`` seen this long after the start, or after a ``starting``, means the start failed.
START_GRACE_SECONDS = 15.0

GONE = None  # the observation "Coolify has no such service" (404 from a verified Coolify API)


@dataclass(frozen=True)
class Verdict:
    """What an observation means for a stack. ``done``: no transition is pending any more."""

    status: str
    done: bool
    last_error: str = ""
    completed: str = ""  # "provision.completed" etc.: the audit event an end state earns
    failed: str = ""  # "provision.failed" etc.


def deadline_seconds(ctx: Context, action: str) -> float:
    """How long the queued work of ``action`` may take before the stack is failed or degraded."""
    return ctx.settings.delete_wait_seconds if action == "delete" else ctx.settings.provision_wait_seconds


def decide(
    stack: Stack,
    seen: ServiceStatus | None,
    *,
    elapsed: float,
    deadline: float,
    seen_starting: bool = False,
) -> Verdict:
    """The stack's status given Coolify's ``seen`` status (``GONE``: no such service).

    ``elapsed``: seconds since the transition began (since ``transition_at``, or since the waiting
    operation queued its work); ``deadline``: how long it may take; ``seen_starting``: the observer
    saw Coolify report ``starting``/``restarting`` after the work was queued. Pure.
    """
    action = TRANSITIONS.get(stack.status, "")
    late = elapsed >= deadline
    waiting = Verdict(stack.status, done=False)
    uuid = stack.coolify_service_uuid
    missing = f"Coolify has no service {uuid} (removed outside the platform?)"

    if stack.desired_state == "deleted":
        if seen is GONE:
            return Verdict("deleted", done=True, completed="delete.completed" if action == "delete" else "")
        if action == "delete":
            if late:
                error = (
                    f"Coolify has not removed service {uuid} within {deadline:.0f}s (it reports {seen.raw})"
                )
                return Verdict("deleting", done=False, last_error=error)
            return waiting
        return _observed(stack, seen)

    if seen is GONE:
        return Verdict("failed", done=True, last_error=missing, failed=f"{action}.failed" if action else "")

    if stack.desired_state == "suspended":
        if seen.stopped:
            return Verdict(
                "suspended", done=True, completed="suspend.completed" if action == "suspend" else ""
            )
        if action == "suspend":
            if not late:
                return waiting
            error = f"the stop did not take effect within {deadline:.0f}s: Coolify reports {seen.raw}"
            return Verdict(_running_status(seen), done=True, last_error=error, failed="suspend.failed")
        return _observed(stack, seen)

    # desired running
    starting = action in ("provision", "resume", "rotate")
    if seen.healthy:
        if action == "rotate" and not seen_starting and elapsed < START_GRACE_SECONDS:
            # Healthy right after the restart was queued may still be the old containers, which hold
            # the old secrets: only a restart seen happening, or the grace passing, shows the new ones.
            return waiting
        return Verdict("running", done=True, completed=f"{action}.completed" if starting else "")
    if not starting:
        return _observed(stack, seen)
    if seen.stopped:
        if seen_starting or elapsed >= START_GRACE_SECONDS:
            error = (
                f"started, then exited (Coolify: {seen.raw}): `docker compose up` failed or every container "
                "stopped; look at the service's last activity (deployment log) in Coolify, which no API shows"
            )
            return Verdict("failed", done=True, last_error=error, failed=f"{action}.failed")
        return waiting
    if not late:
        return waiting
    error = f"did not become running:healthy within {deadline:.0f}s (Coolify: {seen.raw})"
    if seen.running or seen.state == "degraded":
        return Verdict("degraded", done=True, last_error=error, failed=f"{action}.failed")
    return Verdict("failed", done=True, last_error=error, failed=f"{action}.failed")


def _running_status(seen: ServiceStatus) -> str:
    return "running" if seen.healthy else "degraded"


def _observed(stack: Stack, seen: ServiceStatus) -> Verdict:
    """A stack with no pending transition: its status follows what Coolify reports."""
    if seen.stopped:
        if stack.desired_state == "suspended":
            return Verdict("suspended", done=True)
        error = f"stopped outside the platform: Coolify reports {seen.raw}"
        return Verdict("failed", done=True, last_error=error)
    if seen.healthy:
        return Verdict("running", done=True)
    return Verdict("degraded", done=True)


def elapsed_since(stack: Stack, now: datetime) -> float:
    """Seconds since the stack's transition began (a transition with no timestamp counts as old)."""
    if not stack.transition_at:
        return float("inf")
    started = datetime.fromisoformat(stack.transition_at.replace("Z", "+00:00"))
    return max(0.0, (now - started).total_seconds())


async def settle(
    ctx: Context,
    tenant: Tenant,
    stack: Stack,
    seen: ServiceStatus | None,
    *,
    elapsed: float | None = None,
    seen_starting: bool = False,
) -> Stack:
    """Write back what ``seen`` means for ``stack`` (see :func:`decide`); the caller holds the lock.

    Writes only when something changes; audits an end state once (``<action>.completed``/``.failed``);
    an observed deletion also finishes the delete (secrets, kept volumes, the emptied project).
    """
    action = TRANSITIONS.get(stack.status, "")
    if elapsed is None:
        elapsed = elapsed_since(stack, ctx.wall())
    verdict = decide(
        stack,
        seen,
        elapsed=elapsed,
        deadline=deadline_seconds(ctx, action),
        seen_starting=seen_starting,
    )
    coolify_status = seen.raw if seen is not None else ""
    fields: dict[str, Any] = {}
    if verdict.status != stack.status:
        fields["status"] = verdict.status
    if coolify_status != stack.coolify_status:
        fields["coolify_status"] = coolify_status
    if verdict.last_error != stack.last_error and (verdict.last_error or verdict.done):
        fields["last_error"] = verdict.last_error
    if verdict.done and stack.transition_at:
        fields["transition_at"] = ""
    if verdict.failed and action in ("provision", "resume", "rotate"):
        # What failed to start is held: the event functions retry it only once its configuration changes.
        fields["failed_digest"] = applied_digest(stack)
    details: dict[str, Any] = {}
    if action == "rotate" and verdict.done:
        # The rotation's marker named its secrets for this audit event; its work is over.
        details["secrets"] = (stack.rotation_pending or {}).get("names", [])
        fields["rotation_pending"] = None
    if not fields:
        return stack
    if verdict.status == "deleted":
        from functions.operations.delete import finish_delete  # delete imports settle

        return await finish_delete(ctx, tenant, stack, fields)
    stack = await ctx.store.update_stack(stack, **fields)
    if verdict.completed or verdict.failed:
        event = verdict.completed or verdict.failed
        log.info(event, status=verdict.status, coolify_status=coolify_status, reason=verdict.last_error)
        await ctx.store.audit(
            event,
            outcome="ok" if verdict.completed else "failed",
            tenant=tenant.slug,
            stack=stack.name,
            details={
                "status": verdict.status,
                "coolify_status": coolify_status,
                "reason": verdict.last_error,
                **details,
            },
        )
    elif "status" in fields:
        log.info("stack.status_observed", was=fields.get("status"), coolify_status=coolify_status)
    return stack
