"""Operator sessions: a signed cookie that names a session record in PocketBase.

The cookie holds a random token, signed (itsdangerous) with ``CFA_ADMIN_SECRET_KEY`` and time-limited;
PocketBase's ``operator_sessions`` holds only the token's SHA-256, who signed in, the CSRF token and when
the session ends. So a session ends for real at sign-out (the record is deleted) on every replica, and
neither a leaked database nor a forged cookie is a session.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from itsdangerous import BadSignature, URLSafeTimedSerializer

from shared.logging import get_logger
from shared.pocketbase.client import PocketBase
from shared.pocketbase.filters import pb_datetime, pb_filter

log = get_logger()

COOKIE = "cfa_admin_session"
COLLECTION = "operator_sessions"


@dataclass(frozen=True)
class Operator:
    """Who signed in: ``account`` is ``operators`` or ``_superusers`` (PocketBase's collection)."""

    email: str
    account: str

    @property
    def actor(self) -> str:
        """The audit trail's actor for this operator's actions."""
        kind = "superuser" if self.account == "_superusers" else "operator"
        return f"{kind}:{self.email}"


@dataclass(frozen=True)
class Session:
    id: str
    operator: Operator
    csrf: str
    expires_at: datetime


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class Sessions:
    """Create, resolve and end sessions. ``key`` signs the cookies (the same on every replica)."""

    def __init__(self, pb: PocketBase, key: bytes, *, lifetime: timedelta) -> None:
        self._pb = pb
        self._signer = URLSafeTimedSerializer(key, salt="cfa-admin-session")
        self.lifetime = lifetime

    async def start(self, operator: Operator, address: str) -> tuple[str, Session]:
        """A new session for ``operator``: (the cookie's value, the session)."""
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        expires = datetime.now(UTC) + self.lifetime
        record = await self._pb.create_record(
            COLLECTION,
            {
                "token_hash": _hash(token),
                "actor": operator.actor,
                "email": operator.email,
                "account": operator.account,
                "csrf": csrf,
                "address": address[:100],
                "expires_at": pb_datetime(expires),
            },
        )
        return self._signer.dumps(token), Session(str(record["id"]), operator, csrf, expires)

    async def resolve(self, cookie: str | None) -> Session | None:
        """The live session the cookie names; None for no cookie, a bad signature or an ended session."""
        if not cookie:
            return None
        try:
            token = self._signer.loads(cookie, max_age=int(self.lifetime.total_seconds()))
        except BadSignature:
            return None
        if not isinstance(token, str):
            return None
        record = await self._pb.first(COLLECTION, pb_filter("token_hash = {:hash}", hash=_hash(token)))
        if record is None:
            return None
        expires = _parse(str(record["expires_at"]))
        if expires <= datetime.now(UTC):
            await self._pb.delete_record(COLLECTION, str(record["id"]))
            return None
        operator = Operator(email=str(record["email"]), account=str(record["account"]))
        return Session(str(record["id"]), operator, str(record["csrf"]), expires)

    async def end(self, session: Session) -> None:
        """Sign out: the record is deleted, so the cookie is worthless everywhere (idempotent)."""
        await self._pb.delete_record(COLLECTION, session.id)

    @staticmethod
    def csrf_matches(session: Session, submitted: str | None) -> bool:
        return bool(submitted) and hmac.compare_digest(session.csrf, str(submitted))

    async def prune(self) -> int:
        """Delete expired sessions (called at each sign-in); how many were deleted."""
        expired = await self._pb.list_records(
            COLLECTION, filter=pb_filter("expires_at < {:now}", now=datetime.now(UTC)), limit=200
        )
        for record in expired:
            await self._pb.delete_record(COLLECTION, str(record["id"]))
        return len(expired)
