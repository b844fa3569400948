"""Signing in to the admin pages with PocketBase credentials, with throttling.

An operator is a record of the ``operators`` auth collection or a PocketBase superuser; PocketBase checks
the password. Each failure is recorded (``login_failures``: the account tried and the address) and audited;
while an account has ``CFA_ADMIN_LOGIN_MAX_FAILURES`` failures from one address within the window — or an
address has four times as many over all accounts — sign-in is refused without asking PocketBase, so a
password cannot be guessed at speed and one noisy address cannot lock everyone else out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from functions.admin.sessions import Operator
from functions.store import Store
from shared.logging import get_logger
from shared.pocketbase.client import PocketBase
from shared.pocketbase.filters import pb_filter
from shared.settings import Settings

log = get_logger()

ACCOUNTS = ("operators", "_superusers")
FAILURES = "login_failures"
ADDRESS_FACTOR = 4  # failures from one address over all accounts, as a multiple of the per-account limit


@dataclass(frozen=True)
class Throttled:
    """Sign-in refused for now: ``retry_after`` seconds until the oldest counted failure leaves the window."""

    retry_after: int


class SignIn:
    def __init__(self, pb: PocketBase, settings: Settings) -> None:
        self._pb = pb
        self._limit = settings.admin_login_max_failures
        self._window = timedelta(seconds=settings.admin_login_window_seconds)
        self._settings = settings

    async def throttled(self, email: str, address: str) -> Throttled | None:
        """Whether ``email`` from ``address`` must wait before the next attempt."""
        since = datetime.now(UTC) - self._window
        checks = (
            (
                pb_filter(
                    "email = {:e} && address = {:a} && created >= {:s}",
                    e=email,
                    a=address,
                    s=since,
                ),
                self._limit,
            ),
            (
                pb_filter("address = {:a} && created >= {:s}", a=address, s=since),
                self._limit * ADDRESS_FACTOR,
            ),
        )
        for query, limit in checks:
            items, total = await self._pb.page(FAILURES, filter=query, sort="-created", per_page=limit)
            if total >= limit:
                oldest = datetime.fromisoformat(str(items[-1]["created"]).replace("Z", "+00:00"))
                wait = (oldest + self._window - datetime.now(UTC)).total_seconds()
                return Throttled(retry_after=max(1, math.ceil(wait)))
        return None

    async def attempt(self, email: str, password: str, address: str) -> Operator | None:
        """The operator these credentials belong to, or None (the failure is recorded and audited).

        The caller checks :meth:`throttled` first. Only the account name and address are recorded."""
        email = email.strip().lower()
        if email and password:
            for account in ACCOUNTS:
                record = await self._pb.authenticate(account, email, password)
                if record is not None:
                    operator = Operator(email=str(record.get("email") or email), account=account)
                    await self._audit("admin.signed_in", operator.actor, address)
                    log.info("admin.signed_in", actor=operator.actor, address=address)
                    return operator
        await self._pb.create_record(FAILURES, {"email": email[:200], "address": address[:100]})
        await self._audit(
            "admin.sign_in_failed", f"anonymous@{address}", address, email=email, outcome="refused"
        )
        log.warning("admin.sign_in_failed", address=address, account=email[:200])
        return None

    async def refused(self, email: str, address: str, wait: Throttled) -> None:
        """Audit a sign-in refused by the throttle (PocketBase was not asked)."""
        await self._audit(
            "admin.sign_in_throttled",
            f"anonymous@{address}",
            address,
            email=email,
            outcome="refused",
            retry_after=wait.retry_after,
        )
        log.warning(
            "admin.sign_in_throttled", address=address, account=email[:200], retry_after=wait.retry_after
        )

    async def _audit(
        self, action: str, actor: str, address: str, *, outcome: str = "ok", **details: object
    ) -> None:
        store = Store(self._pb, dry_run=False, actor=actor, operation_id="")
        await store.audit(action, outcome=outcome, details={"address": address, **details})
        await store.flush()
