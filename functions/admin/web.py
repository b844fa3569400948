"""The admin pages' web plumbing: templates, cookies, the sign-in guard with CSRF checks, flash messages
and security headers. Page and action handlers (``views.py``, ``actions.py``) only see a signed-in
operator's request.

Guarantees of :meth:`Web.guarded`: no handler runs without a live session (a page redirects to the
sign-in form, a POST is refused); a POST runs only with the session's CSRF token (form field
``csrf_token`` or header ``X-CSRF-Token``) and not from another site (``Origin``/``Sec-Fetch-Site``);
a refused POST is audited and changes nothing.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import jinja2
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from functions.admin.sessions import COOKIE, Session, Sessions
from functions.store import Store
from shared.errors import (
    AuthError,
    BusyError,
    CapacityError,
    CfaError,
    ConflictError,
    InvalidInput,
    NotFoundError,
    PlanLimitError,
)
from shared.logging import get_logger
from shared.pocketbase.client import PocketBase
from shared.settings import Settings

log = get_logger()

HERE = Path(__file__).parent
FLASH_COOKIE = "cfa_admin_flash"
LOGIN_COOKIE = "cfa_admin_login"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"

Handler = Callable[[Request, Session], Awaitable[Response]]

SECURITY_HEADERS = {
    # Only our own files may run: an injected <script> or on*= attribute does nothing even if escaping
    # ever failed. htmx is configured (meta htmx-config) to need neither eval nor inline styles.
    "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}


def status_for(err: CfaError) -> int:
    if isinstance(err, InvalidInput):
        return 400
    if isinstance(err, AuthError):
        return 403
    if isinstance(err, NotFoundError):
        return 404
    if isinstance(err, PlanLimitError | CapacityError | ConflictError | BusyError):
        return 409
    return 503 if err.retryable else 500


class SecurityHeaders:
    """ASGI middleware adding :data:`SECURITY_HEADERS` to every admin response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


class Web:
    def __init__(self, settings: Settings, pb: PocketBase, sessions: Sessions, key: bytes) -> None:
        self.settings = settings
        self.pb = pb
        self.sessions = sessions
        self._flash = URLSafeTimedSerializer(key, salt="cfa-admin-flash")
        self._login = URLSafeTimedSerializer(key, salt="cfa-admin-login")
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["when"] = _when
        self.env.filters["json"] = dumps
        self.env.filters["link"] = _link

    # --- paths and responses ------------------------------------------------------------------------

    @staticmethod
    def path(request: Request, *parts: str, **query: str | int) -> str:
        """An admin path: ``path(request, "tenants", slug)`` → ``/admin/tenants/acme``."""
        root = request.scope.get("root_path", "")
        joined = "/".join(quote(str(p), safe="") for p in parts)
        given = {k: v for k, v in query.items() if v not in ("", None)}
        return f"{root}/{joined}" + (f"?{urlencode(given)}" if given else "")

    def render(
        self,
        request: Request,
        page: str,
        session: Session | None,
        /,
        *,
        status_code: int = 200,
        **context: Any,
    ) -> HTMLResponse:
        flash = self._read_flash(request)
        body = self.env.get_template(page).render(
            request=request,
            session=session,
            csrf=session.csrf if session else "",
            flash=flash,
            path=lambda *parts, **query: self.path(request, *parts, **query),
            **context,
        )
        response = HTMLResponse(body, status_code=status_code)
        if flash is not None:
            response.delete_cookie(FLASH_COOKIE, path=self._cookie_path(request))
        return response

    def redirect(
        self, request: Request, location: str, *, flash: str = "", kind: str = "ok"
    ) -> RedirectResponse:
        """303 to ``location`` (an admin path), carrying a one-time message for the next page."""
        response = RedirectResponse(location, status_code=303)
        if flash:
            self.set_cookie(
                request, response, FLASH_COOKIE, self._flash.dumps({"kind": kind, "text": flash}), max_age=120
            )
        return response

    def error(self, request: Request, session: Session | None, err: CfaError) -> HTMLResponse:
        return self.render(
            request,
            "error.html",
            session,
            status_code=status_for(err),
            message=err.message,
            advice=err.advice,
        )

    # --- cookies -------------------------------------------------------------------------------------

    @staticmethod
    def _cookie_path(request: Request) -> str:
        return request.scope.get("root_path", "") or "/"

    def secure(self, request: Request) -> bool:
        if self.settings.admin_secure_cookies is not None:
            return self.settings.admin_secure_cookies
        return request.url.scheme == "https"

    def set_cookie(
        self, request: Request, response: Response, name: str, value: str, *, max_age: int | None = None
    ) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path=self._cookie_path(request),
            httponly=True,
            samesite="lax",
            secure=self.secure(request),
        )

    def _read_flash(self, request: Request) -> dict[str, str] | None:
        raw = request.cookies.get(FLASH_COOKIE)
        if not raw:
            return None
        try:
            value = self._flash.loads(raw, max_age=120)
        except BadSignature:
            return None
        return value if isinstance(value, dict) else None

    # --- the sign-in form's own CSRF token (before there is a session) -------------------------------

    def login_token(self, request: Request) -> tuple[str, str | None]:
        """(the token to put in the sign-in form, a new cookie value to set or None to keep the cookie)."""
        raw = request.cookies.get(LOGIN_COOKIE)
        if raw:
            try:
                token = self._login.loads(raw, max_age=3600)
                if isinstance(token, str):
                    return token, None
            except BadSignature:
                pass
        token = secrets.token_urlsafe(24)
        return token, self._login.dumps(token)

    def login_token_matches(self, request: Request, submitted: str | None) -> bool:
        raw = request.cookies.get(LOGIN_COOKIE)
        if not raw or not submitted:
            return False
        try:
            token = self._login.loads(raw, max_age=3600)
        except BadSignature:
            return False
        return isinstance(token, str) and secrets.compare_digest(token, submitted)

    # --- the guard -----------------------------------------------------------------------------------

    @staticmethod
    def cross_site(request: Request) -> bool:
        """A request another site made the browser send (a forged form post)."""
        if request.headers.get("sec-fetch-site") == "cross-site":
            return True
        origin = request.headers.get("origin")
        if origin is None:
            return False
        # Host only: behind a proxy that ends TLS the browser's https origin meets an http request.
        return urlsplit(origin).netloc != request.url.netloc

    def guarded(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        """``handler`` behind the sign-in and CSRF checks (see the module docstring)."""

        async def endpoint(request: Request) -> Response:
            session = await self.sessions.resolve(request.cookies.get(COOKIE))
            if session is None:
                if request.method != "GET":
                    log.warning("admin.refused", reason="no_session", path=request.url.path)
                    return self.render(request, "signed_out.html", None, status_code=403)
                if request.headers.get("hx-request"):
                    response: Response = Response(status_code=204)
                    response.headers["HX-Redirect"] = self.path(request, "login")
                    return response
                return RedirectResponse(self.path(request, "login", next=request.url.path), status_code=303)
            if request.method == "POST":
                refusal = await self._refuse_post(request, session)
                if refusal is not None:
                    return refusal
            try:
                return await handler(request, session)
            except CfaError as err:
                log.info("admin.action_failed", path=request.url.path, error=err.kind)
                return self.error(request, session, err)

        return endpoint

    async def _refuse_post(self, request: Request, session: Session) -> Response | None:
        form = await request.form()
        submitted = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
        reason = ""
        if self.cross_site(request):
            reason = "cross-site"
        elif not self.sessions.csrf_matches(session, submitted if isinstance(submitted, str) else None):
            reason = "csrf"
        if not reason:
            return None
        log.warning("admin.refused", reason=reason, path=request.url.path, actor=session.operator.actor)
        store = Store(self.pb, dry_run=False, actor=session.operator.actor, operation_id="")
        await store.audit(
            "admin.request_refused", outcome="refused", details={"reason": reason, "path": request.url.path}
        )
        await store.flush()
        return self.render(request, "refused.html", session, status_code=403, reason=reason)


def _when(value: object) -> str:
    """PocketBase's ``2026-12-01 10:30:00.123Z`` as ``2026-12-01 10:30:00 UTC`` (blank stays blank)."""
    text = str(value or "")
    return f"{text[:19]} UTC" if len(text) >= 19 else text


def _link(value: object) -> str:
    """``value`` if it is an http(s) URL (safe in an href), else blank."""
    text = str(value or "")
    return text if text.startswith(("https://", "http://")) else ""


def dumps(value: object) -> str:
    return json.dumps(value, sort_keys=True, default=str)
