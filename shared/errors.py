"""The error tree of the platform.

Every error a user can see is a ``CfaError``: it says what was wrong (``str(err)``) and what to do
(``err.advice``), and maps to a documented process exit code. The first split is the one callers act on:

    CfaError
    ├── TerminalError            retrying the same request cannot help; a person must change something
    │   ├── InvalidInput         bad slug, stack name, parameter, template, plan …           (exit 2)
    │   ├── NotFoundError        tenant, stack, template or Coolify resource does not exist  (exit 3)
    │   ├── PlanLimitError       the tenant's plan refuses the request                       (exit 4)
    │   ├── ConflictError        state disagrees with the request (e.g. duplicates found)    (exit 5)
    │   ├── ConfigurationError   settings missing or inconsistent                            (exit 6)
    │   ├── AuthError            credentials rejected or missing permissions                 (exit 7)
    │   ├── RejectedError        the remote API refused the request as invalid               (exit 8)
    │   ├── TemplateError        a template is broken or breaks the hardening policy         (exit 9)
    │   ├── StackFailedError     Coolify ran the stack and it failed (e.g. started, exited)  (exit 10)
    │   └── CapacityError        the host budget (CFA_CAPACITY) has no room for it           (exit 11)
    └── RetryableError           the same request may succeed later                          (exit 75)
        ├── UnavailableError     connection failure, timeout or 5xx
        │   └── AmbiguousWriteError  a create may or may not have happened: look it up by name
        ├── RateLimitedError     429; ``retry_after`` seconds
        ├── NotConvergedError    waited for a state (running, deleted) and it did not arrive in time
        └── BusyError            another operation on the same tenant is running

Exit code 1 is reserved for bugs (an unexpected exception).
"""

from __future__ import annotations

from typing import Any, ClassVar


class CfaError(Exception):
    """Base of every expected error. ``advice`` tells the operator what to do next."""

    exit_code: ClassVar[int] = 1
    retryable: ClassVar[bool] = False
    # What to do when the raiser had nothing more specific to say: every error line says what to do.
    default_advice: ClassVar[str] = "see the log above; re-running the same command is safe"

    def __init__(self, message: str, *, advice: str = "", details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.advice = advice or self.default_advice
        self.details: dict[str, Any] = details or {}

    def one_line(self) -> str:
        """The message and the advice on one line, as the CLI prints it."""
        return f"{self.message} — {self.advice}"

    @property
    def kind(self) -> str:
        return type(self).__name__

    def audit_details(self) -> dict[str, Any]:
        """What an audited refusal records besides the message (nothing by default: details may
        quote raw input)."""
        return {}


class TerminalError(CfaError):
    """Retrying will not help; something must be changed first."""


class InvalidInput(TerminalError):
    exit_code = 2
    default_advice = "correct it and re-run (nothing was changed)"

    def __init__(self, field: str, message: str, *, advice: str = "") -> None:
        super().__init__(f"{field}: {message}", advice=advice, details={"field": field})
        self.field = field


class NotFoundError(TerminalError):
    exit_code = 3
    default_advice = "check the name: cfa tenants list and cfa status TENANT show what exists"


class PlanLimitError(TerminalError):
    exit_code = 4
    default_advice = "delete something first, or give the tenant a larger plan (cfa tenants update)"


class ConflictError(TerminalError):
    exit_code = 5
    default_advice = "look at the state (cfa status TENANT) and resolve the conflict, then re-run"


class DuplicateResourcesError(ConflictError):
    """More than one Coolify resource carries a name that must be unique to us: a human must pick one."""

    def __init__(self, kind: str, name: str, uuids: list[str]) -> None:
        super().__init__(
            f"{len(uuids)} Coolify {kind}s are named {name!r} ({', '.join(uuids)}); "
            "refusing to create another",
            advice=(
                f"delete the extra {kind}s in Coolify (keep the one with the tenant's data), "
                "then re-run the same command"
            ),
            details={"resource": kind, "name": name, "uuids": uuids},
        )


class ConfigurationError(TerminalError):
    exit_code = 6
    default_advice = "fix the CFA_* settings; cfa doctor checks them"


class AuthError(TerminalError):
    exit_code = 7
    default_advice = "check the credentials in the CFA_* settings; cfa doctor checks them"


class RejectedError(TerminalError):
    exit_code = 8
    default_advice = "Coolify refused the request as sent: check the parameters, or report it as a bug"

    def __init__(
        self, message: str, *, advice: str = "", field_errors: dict[str, list[str]] | None = None
    ) -> None:
        super().__init__(message, advice=advice, details={"field_errors": field_errors or {}})
        self.field_errors: dict[str, list[str]] = field_errors or {}


class RetryableError(CfaError):
    exit_code = 75  # EX_TEMPFAIL
    retryable = True
    default_advice = "re-run the same command in a moment (it is safe); cfa doctor checks the dependencies"


class UnavailableError(RetryableError):
    pass


class AmbiguousWriteError(UnavailableError):
    """A create request failed in a way that does not tell whether it was applied."""


class RateLimitedError(RetryableError):
    def __init__(self, message: str, *, retry_after: float, advice: str = "") -> None:
        super().__init__(message, advice=advice, details={"retry_after": retry_after})
        self.retry_after = retry_after


class NotConvergedError(RetryableError):
    pass


class TemplateError(TerminalError):
    """A template (metadata or compose) is broken or breaks the hardening policy: a bug to fix in
    ``templates/``, never something a tenant's input can cause."""

    exit_code = 9

    def __init__(self, template: str, problems: list[str]) -> None:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        super().__init__(
            f"template {template}: {shown}",
            advice="fix the template under templates/ (cfa templates render shows the compose)",
            details={"template": template, "problems": problems},
        )
        self.problems = problems


class StackFailedError(TerminalError):
    """Coolify ran what we asked and the stack failed (e.g. started, then exited): the stack is
    recorded ``failed`` with the reason in ``last_error``."""

    exit_code = 10


class CapacityError(TerminalError):
    """A provision or plan change would claim more than a server's budget (``CFA_CAPACITY`` times the
    overcommit): refused before any Coolify write. ``details`` has the server and, per short resource,
    what was needed and what is free."""

    exit_code = 11
    default_advice = (
        "free capacity (delete stacks), add a Coolify server, or raise CFA_CAPACITY; "
        "cfa capacity shows what is allocated"
    )

    def audit_details(self) -> dict[str, Any]:
        return dict(self.details)


class BusyError(RetryableError):
    """Another operation holds the tenant's lock."""


def blames_stack(err: CfaError) -> bool:
    """Whether ``err`` says something about the stack itself (so it may be recorded ``failed``).

    A configuration or credentials problem, or a passing failure, says nothing about the stack:
    recording it ``failed`` (or missing) would be false.
    """
    return not err.retryable and not isinstance(err, ConfigurationError | AuthError)
