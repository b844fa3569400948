"""What the handlers share: turning an operation's error into a retry, a wait, or giving up once."""

from __future__ import annotations

from functions.alerts import Alert
from functions.dispatch import Retry
from functions.operations.digest import desired_digest
from functions.records import Stack, Tenant
from functions.runtime import Runtime
from functions.store import Store
from shared.errors import (
    AuthError,
    BusyError,
    CapacityError,
    CfaError,
    ConfigurationError,
    RetryableError,
)
from shared.logging import get_logger

log = get_logger()

BUSY_DELAY = 2.0  # another process holds the tenant's lock: try again shortly
_MISCONFIGURED_DELAY = 300.0


def backoff(attempt: int) -> float:
    return float(min(2**attempt, 60))


def handle_error(rt: Runtime, err: CfaError, attempt: int) -> None:
    """Raise :class:`Retry` when trying again may help; return when the caller must give up.

    A busy tenant is always retried shortly (it is not a failure); a configuration or credentials
    problem is retried slowly and alerted once per message; other retryable errors are retried with
    backoff until ``CFA_HANDLER_MAX_ATTEMPTS``.
    """
    if isinstance(err, BusyError):
        raise Retry(BUSY_DELAY, counts=False, reason="tenant busy") from err
    if isinstance(err, ConfigurationError | AuthError):
        misconfigured(rt, err)
        raise Retry(_MISCONFIGURED_DELAY, counts=False, reason=err.kind) from err
    if isinstance(err, RetryableError) and attempt < rt.settings.handler_max_attempts:
        raise Retry(backoff(attempt), reason=err.kind) from err


_MISCONFIGURATIONS_SENT: set[str] = set()


def misconfigured(rt: Runtime, err: CfaError) -> None:
    """One alert per distinct configuration or credentials problem per process."""
    if err.message in _MISCONFIGURATIONS_SENT:
        return
    _MISCONFIGURATIONS_SENT.add(err.message)
    rt.alerter.send(
        Alert(
            severity="critical",
            title="CloudFreedom platform misconfigured",
            body=f"{err.one_line()}\nThe event functions keep retrying every few minutes.",
            runbook="platform-misconfigured",
        )
    )


async def give_up(
    rt: Runtime,
    store: Store,
    tenant: Tenant,
    stack: Stack,
    err: CfaError,
    *,
    action: str,
    digest: str,
    attempt: int,
) -> None:
    """The stack is failed with the error's one line, ``failed_digest`` holds it until its
    configuration changes or an operator acts, and one alert goes out (runbook provisioning-failed)."""
    log.warning("handler.gave_up", action=action, error=err.kind, reason=err.message, attempts=attempt)
    current = await store.get_stack(tenant, stack.name)
    if not digest:  # decided without comparing (a pending stack): hold it at what it is now
        digest, _ = await desired_digest(rt.context(), tenant, current)
    await store.update_stack(
        current, status="failed", last_error=err.one_line()[:2000], failed_digest=digest, transition_at=""
    )
    await store.audit(
        "functions.gave_up",
        outcome="failed",
        tenant=tenant.slug,
        stack=stack.name,
        details={"action": action, "error": err.kind, "reason": err.message, "attempts": attempt},
    )
    await store.flush()
    rt.alerter.send(
        Alert(
            severity="critical",
            title=f"{action} of {tenant.slug}/{stack.name} failed",
            body=f"{err.one_line()}\nAttempts: {attempt}. The stack is recorded failed; it is not retried "
            "until its record changes or an operator re-runs the operation.",
            runbook=runbook_for(err),
        )
    )


def runbook_for(err: CfaError) -> str:
    """The runbook of a refusal or failure: the host budget has its own."""
    return "capacity-exceeded" if isinstance(err, CapacityError) else "provisioning-failed"
