"""The guard in front of every admin page and action: no session, no page; no CSRF token or a
cross-site origin, no change (audited); security headers on every answer."""

from __future__ import annotations

import re

import pytest
from starlette.routing import Mount, Route

from functions.admin.app import admin_app
from shared.pocketbase.client import PocketBase
from tests.admin.conftest import Console, runtime_of

pytestmark = pytest.mark.anyio

OPEN = {"/", "/login"}  # the only routes that answer without a session (plus /static)


def _guarded_routes(console: Console) -> list[tuple[str, str]]:
    app = admin_app(runtime_of(console.ctx))
    found = []
    for route in app.routes:
        if isinstance(route, Mount) or not isinstance(route, Route) or route.path in OPEN:
            continue
        path = re.sub(r"\{slug\}", "acme", route.path)
        path = re.sub(r"\{stack\}", "bot", path)
        for method in sorted(route.methods or []):
            if method != "HEAD":
                found.append((method, "/admin" + path))
    return found


async def test_no_page_or_action_answers_without_a_session(
    console: Console, acme: str, pb: PocketBase
) -> None:
    """Every route of the admin app (enumerated, so a new one is covered too) redirects a page request
    to the sign-in form and refuses an action, which changes nothing."""
    routes = _guarded_routes(console)
    assert len(routes) >= 15
    before = await pb.list_records("tenants")
    for method, path in routes:
        response = await console.http.request(method, path, data={"plan": "team", "slug": "mallory"})
        if method == "GET":
            assert response.status_code == 303, (method, path)
            assert response.headers["location"].startswith("/admin/login?next="), (method, path)
        else:
            assert response.status_code == 403, (method, path)
    assert await pb.list_records("tenants") == before


async def test_a_polling_request_without_a_session_is_sent_to_sign_in(console: Console, acme: str) -> None:
    response = await console.http.get("/admin/tenants/acme/stacks/bot/status", headers={"HX-Request": "true"})

    assert response.status_code == 204 and response.headers["HX-Redirect"] == "/admin/login"


@pytest.mark.parametrize("token", [None, "", "forged-token"])
async def test_an_action_without_the_sessions_csrf_token_changes_nothing(
    signed_in: Console, acme: str, pb: PocketBase, token: str | None
) -> None:
    data = {"plan": "team"} | ({"csrf_token": token} if token is not None else {})
    response = await signed_in.http.post("/admin/tenants/acme/plan", data=data)

    assert response.status_code == 403 and "security token" in response.text
    (tenant,) = await pb.list_records("tenants")
    assert tenant["plan"] == "starter"
    refused = await signed_in.audit("admin.request_refused")
    assert [(e["outcome"], e["details"]["reason"]) for e in refused] == [("refused", "csrf")]


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "http://admin.test.evil.example"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": "null"},
    ],
)
async def test_a_cross_site_post_is_refused_even_with_a_valid_token(
    signed_in: Console, acme: str, pb: PocketBase, headers: dict[str, str]
) -> None:
    response = await signed_in.post("/admin/tenants/acme/suspend", headers=headers)

    assert response.status_code == 403 and "another site" in response.text
    (tenant,) = await pb.list_records("tenants")
    assert tenant["status"] == "active"
    assert [e["details"]["reason"] for e in await signed_in.audit("admin.request_refused")] == ["cross-site"]


@pytest.mark.parametrize("origin", ["http://admin.test", "https://admin.test"])
async def test_a_same_origin_post_with_the_token_is_accepted(
    signed_in: Console, acme: str, pb: PocketBase, origin: str
) -> None:
    """The page's own host, over http or https (a proxy ending TLS hands plain http to cfa serve)."""
    response = await signed_in.post("/admin/tenants/acme/plan", {"plan": "team"}, headers={"Origin": origin})

    assert response.status_code == 303
    (tenant,) = await pb.list_records("tenants")
    assert tenant["plan"] == "team"


@pytest.mark.parametrize("path", ["/admin/login", "/admin/tenants", "/admin/static/admin.css"])
async def test_every_answer_carries_the_security_headers(signed_in: Console, path: str) -> None:
    response = await signed_in.http.get(path)

    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_the_vendored_htmx_is_served_with_its_licence(console: Console) -> None:
    script = await console.http.get("/admin/static/htmx-2.0.10.min.js")
    licence = await console.http.get("/admin/static/htmx-LICENSE.txt")

    assert script.status_code == 200 and 'version:"2.0.10"' in script.text
    assert licence.status_code == 200 and "Zero-Clause BSD" in licence.text
