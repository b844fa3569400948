"""The admin pages as one Starlette app, mounted by ``cfa serve`` at ``/admin``: routes, the sign-in
form, static files (htmx and the style sheet) and security headers on every response."""

from __future__ import annotations

import secrets
from datetime import timedelta

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from functions.admin.actions import Actions
from functions.admin.deps import Admin
from functions.admin.sessions import COOKIE, Sessions
from functions.admin.signin import SignIn
from functions.admin.views import Views
from functions.admin.web import CSRF_FIELD, HERE, LOGIN_COOKIE, SecurityHeaders, Web
from functions.runtime import Runtime
from shared.errors import CfaError
from shared.logging import get_logger

log = get_logger()


def _safe_next(request: Request, target: str) -> str:
    """Where to go after signing in: only a path of the admin pages themselves (never another site)."""
    root = request.scope.get("root_path", "")
    if target.startswith(f"{root}/") and not target.startswith("//") and "\\" not in target:
        return target
    return f"{root}/tenants"


class SignInPage:
    def __init__(self, admin: Admin) -> None:
        self.admin = admin
        self.web = admin.web

    def _form(
        self, request: Request, *, status_code: int = 200, error: str = "", email: str = ""
    ) -> Response:
        token, cookie = self.web.login_token(request)
        response = self.web.render(
            request,
            "login.html",
            None,
            status_code=status_code,
            login_token=token,
            error=error,
            email=email,
            next=request.query_params.get("next", ""),
        )
        if cookie is not None:
            self.web.set_cookie(request, response, LOGIN_COOKIE, cookie, max_age=3600)
        return response

    async def show(self, request: Request) -> Response:
        if await self.admin.sessions.resolve(request.cookies.get(COOKIE)) is not None:
            return RedirectResponse(self.web.path(request, "tenants"), status_code=303)
        return self._form(request)

    async def submit(self, request: Request) -> Response:
        form = await request.form()
        email = str(form.get("email") or "").strip().lower()[:200]
        password = str(form.get("password") or "")
        token = form.get(CSRF_FIELD)
        if self.web.cross_site(request) or not self.web.login_token_matches(
            request, token if isinstance(token, str) else None
        ):
            log.warning("admin.refused", reason="login_csrf", path=request.url.path)
            return self._form(
                request,
                status_code=403,
                error="The sign-in form expired; it was reloaded, try again.",
                email=email,
            )
        address = request.client.host if request.client else "unknown"
        throttled = await self.admin.signin.throttled(email, address)
        if throttled is not None:
            await self.admin.signin.refused(email, address, throttled)
            minutes = max(1, round(throttled.retry_after / 60))
            return self._form(
                request,
                status_code=429,
                error=f"Too many failed sign-ins for this account from your address; try again in about "
                f"{minutes} minute{'s' if minutes != 1 else ''}.",
                email=email,
            )
        operator = await self.admin.signin.attempt(email, password, address)
        if operator is None:
            return self._form(request, status_code=401, error="Wrong email or password.", email=email)
        await self.admin.sessions.prune()
        cookie, _session = await self.admin.sessions.start(operator, address)
        target = _safe_next(request, str(form.get("next") or ""))
        response = RedirectResponse(target, status_code=303)
        self.web.set_cookie(
            request, response, COOKIE, cookie, max_age=int(self.admin.sessions.lifetime.total_seconds())
        )
        response.delete_cookie(LOGIN_COOKIE, path=request.scope.get("root_path", "") or "/")
        return response


def signing_key(runtime: Runtime) -> bytes:
    """CFA_ADMIN_SECRET_KEY, or a key of this process only (sessions then end with it; logged once)."""
    configured = runtime.settings.admin_secret_key
    if configured is not None:
        return configured.get_secret_value().encode()
    log.warning(
        "admin.ephemeral_key",
        advice="set CFA_ADMIN_SECRET_KEY (the same on every replica) to keep operators signed in across "
        "restarts",
    )
    return secrets.token_bytes(32)


def admin_app(runtime: Runtime) -> Starlette:
    """The admin pages on ``runtime``'s clients (mount at ``/admin``)."""
    key = signing_key(runtime)
    sessions = Sessions(runtime.pb, key, lifetime=timedelta(hours=runtime.settings.admin_session_hours))
    web = Web(runtime.settings, runtime.pb, sessions, key)
    admin = Admin(rt=runtime, web=web, sessions=sessions, signin=SignIn(runtime.pb, runtime.settings))
    views, actions, signin = Views(admin), Actions(admin), SignInPage(admin)
    g = web.guarded

    async def home(request: Request) -> Response:
        return RedirectResponse(web.path(request, "tenants"), status_code=303)

    async def failed(request: Request, exc: Exception) -> Response:
        if isinstance(exc, CfaError):
            return web.error(request, None, exc)
        raise exc

    stack = "/tenants/{slug}/stacks/{stack}"
    return Starlette(
        routes=[
            Route("/", home),
            Route("/login", signin.show, methods=["GET"]),
            Route("/login", signin.submit, methods=["POST"]),
            Route("/logout", g(actions.sign_out), methods=["POST"]),
            Route("/tenants", g(views.tenants), methods=["GET"]),
            Route("/tenants", g(actions.create_tenant), methods=["POST"]),
            Route("/tenants/new", g(views.new_tenant), methods=["GET"]),
            Route("/tenants/{slug}", g(views.tenant), methods=["GET"]),
            Route("/tenants/{slug}/plan", g(actions.change_plan), methods=["POST"]),
            Route("/tenants/{slug}/suspend", g(actions.suspend_tenant), methods=["POST"]),
            Route("/tenants/{slug}/resume", g(actions.resume_tenant), methods=["POST"]),
            Route("/tenants/{slug}/provision", g(views.provision_form), methods=["GET"]),
            Route("/tenants/{slug}/provision", g(actions.provision), methods=["POST"]),
            Route(f"{stack}/status", g(views.stack_status), methods=["GET"]),
            Route(f"{stack}/suspend", g(actions.suspend_stack), methods=["POST"]),
            Route(f"{stack}/resume", g(actions.resume_stack), methods=["POST"]),
            Route(f"{stack}/rotate", g(views.rotate_form), methods=["GET"]),
            Route(f"{stack}/rotate", g(actions.rotate), methods=["POST"]),
            Route(f"{stack}/backup", g(actions.back_up), methods=["POST"]),
            Route(f"{stack}/restore", g(views.restore_form), methods=["GET"]),
            Route(f"{stack}/restore", g(actions.restore), methods=["POST"]),
            Route(f"{stack}/delete", g(views.delete_form), methods=["GET"]),
            Route(f"{stack}/delete", g(actions.delete_stack), methods=["POST"]),
            Route("/audit", g(views.audit), methods=["GET"]),
            Route("/incidents", g(views.incidents), methods=["GET"]),
            Route("/capacity", g(views.capacity), methods=["GET"]),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ],
        middleware=[Middleware(SecurityHeaders)],
        exception_handlers={CfaError: failed},
    )
