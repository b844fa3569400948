"""The admin pages in-process (Starlette over httpx's ASGI transport) on a real PocketBase and the fake
Coolify; ``test_browser.py`` drives them in Chromium through a real ``cfa serve`` instead."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from functions.admin.app import admin_app
from functions.admin.sessions import COOKIE
from functions.alerts import Alerter
from functions.context import Context
from functions.runtime import Runtime
from shared.pocketbase.client import PocketBase
from tests.functions.conftest import ContextFactory, acme, make_ctx, templates_dir
from tests.serve.conftest import pbr, served_coolify, start_serve

__all__ = ["acme", "make_ctx", "pbr", "served_coolify", "start_serve", "templates_dir"]

OPERATOR = "ops@cloudfreedom.example"
PASSWORD = "operator-password-1"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


@dataclass
class Console:
    """A browser stand-in: one cookie jar on the admin app."""

    http: httpx.AsyncClient
    ctx: Context
    pb: PocketBase

    async def sign_in(self, email: str = OPERATOR, password: str = PASSWORD) -> httpx.Response:
        form = await self.http.get("/admin/login")
        return await self.http.post(
            "/admin/login",
            data={"email": email, "password": password, "csrf_token": csrf_of(form.text)},
        )

    async def token(self, page: str = "/admin/tenants") -> str:
        """The CSRF token of the signed-in session (from any page's forms)."""
        return csrf_of((await self.http.get(page)).text)

    async def post(self, path: str, data: dict[str, Any] | None = None, **kwargs: Any) -> httpx.Response:
        """POST a form as the page would, with the session's CSRF token."""
        return await self.http.post(path, data={"csrf_token": await self.token(), **(data or {})}, **kwargs)

    async def get_as(self, path: str, cookie: str) -> httpx.Response:
        """GET with only this session cookie (the jar is emptied first)."""
        self.http.cookies.clear()
        return await self.http.get(path, headers={"Cookie": f"{COOKIE}={cookie}"})

    async def audit(self, action: str) -> list[dict[str, Any]]:
        return [e for e in await self.pb.list_records("audit_events", sort="time") if e["action"] == action]


@pytest.fixture
async def operator(pb: PocketBase) -> str:
    """An operator account in the operators collection."""
    await pb.create_record(
        "operators", {"email": OPERATOR, "password": PASSWORD, "passwordConfirm": PASSWORD, "name": "Ops"}
    )
    return OPERATOR


def runtime_of(ctx: Context) -> Runtime:
    return Runtime(
        settings=ctx.settings,
        pb=ctx.pb,
        coolify=ctx.coolify,
        catalog=ctx.catalog,
        alerter=Alerter(ctx.settings),
    )


@contextlib.asynccontextmanager
async def make_console(
    make_ctx: ContextFactory, pb: PocketBase, *, base_url: str = "http://admin.test", **settings: Any
) -> AsyncIterator[Console]:
    """The admin app mounted at /admin (as cfa serve does) with these settings, not yet signed in."""
    ctx = make_ctx(**settings)
    app = Starlette(routes=[Mount("/admin", app=admin_app(runtime_of(ctx)))])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=base_url) as http:
        yield Console(http=http, ctx=ctx, pb=pb)


@pytest.fixture
async def console(make_ctx: ContextFactory, pb: PocketBase, operator: str) -> AsyncIterator[Console]:
    async with make_console(make_ctx, pb) as console:
        yield console


@pytest.fixture
async def signed_in(console: Console) -> Console:
    response = await console.sign_in()
    assert response.status_code == 303, response.text
    return console
