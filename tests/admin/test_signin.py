"""Signing in and out of the admin pages: PocketBase checks the password, failures are throttled and
audited, sessions live in PocketBase (so sign-out and expiry are real), cookies are locked down."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import anyio
import pytest

from functions.admin.sessions import COOKIE
from shared.pocketbase.client import PocketBase
from tests.admin.conftest import OPERATOR, PASSWORD, Console, csrf_of, make_console
from tests.functions.conftest import ContextFactory
from tests.pocketbase_fixture import EMAIL as SUPERUSER
from tests.pocketbase_fixture import PASSWORD as SUPERUSER_PASSWORD

pytestmark = pytest.mark.anyio


async def test_an_operator_signs_in_with_a_locked_down_cookie_and_the_sign_in_is_audited(
    console: Console, pb: PocketBase
) -> None:
    response = await console.sign_in()

    assert response.status_code == 303 and response.headers["location"] == "/admin/tenants"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith(f"{COOKIE}="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/admin" in cookie
    assert "Secure" not in cookie  # plain http here; see the https test below
    sessions = await pb.list_records("operator_sessions")
    assert [s["actor"] for s in sessions] == [f"operator:{OPERATOR}"]
    value = cookie.split(";")[0].split("=", 1)[1]
    assert all(value not in str(s) for s in sessions)  # PocketBase holds only the token's hash
    signed_in = await console.audit("admin.signed_in")
    assert [e["actor"] for e in signed_in] == [f"operator:{OPERATOR}"]
    page = await console.http.get("/admin/tenants")
    assert page.status_code == 200 and OPERATOR in page.text


async def test_a_pocketbase_superuser_signs_in_as_superuser(console: Console) -> None:
    response = await console.sign_in(SUPERUSER, SUPERUSER_PASSWORD.get_secret_value())

    assert response.status_code == 303
    assert [e["actor"] for e in await console.audit("admin.signed_in")] == [f"superuser:{SUPERUSER}"]


async def test_a_wrong_password_is_refused_recorded_and_audited_without_a_session(
    console: Console, pb: PocketBase
) -> None:
    response = await console.sign_in(password="not-the-password")

    assert response.status_code == 401 and "Wrong email or password" in response.text
    assert COOKIE not in response.cookies
    assert await pb.list_records("operator_sessions") == []
    failures = await pb.list_records("login_failures")
    assert [(f["email"], f["address"]) for f in failures] == [(OPERATOR, "127.0.0.1")]
    refused = await console.audit("admin.sign_in_failed")
    assert [(e["outcome"], e["details"]["email"]) for e in refused] == [("refused", OPERATOR)]
    assert "not-the-password" not in str(refused)
    assert (await console.http.get("/admin/tenants")).status_code == 303


async def test_repeated_failures_throttle_the_account_even_with_the_right_password(
    make_ctx: ContextFactory, pb: PocketBase, operator: str
) -> None:
    async with make_console(make_ctx, pb, admin_login_max_failures=3) as console:
        for _ in range(3):
            assert (await console.sign_in(password="guess")).status_code == 401
        throttled = await console.sign_in()
        other = await console.sign_in(SUPERUSER, SUPERUSER_PASSWORD.get_secret_value())

    assert throttled.status_code == 429 and "Too many failed sign-ins" in throttled.text
    assert COOKIE not in throttled.cookies
    assert len(await console.audit("admin.sign_in_throttled")) == 1
    # Another account from the same address is not locked out by someone guessing this one.
    assert other.status_code == 303


async def test_failures_outside_the_window_no_longer_count(
    make_ctx: ContextFactory, pb: PocketBase, operator: str
) -> None:
    async with make_console(
        make_ctx, pb, admin_login_max_failures=2, admin_login_window_seconds=5.0
    ) as console:
        for _ in range(2):
            await console.sign_in(password="guess")
        assert (await console.sign_in()).status_code == 429
        await _wait_past(await pb.list_records("login_failures"), seconds=5.0)
        assert (await console.sign_in()).status_code == 303


async def _wait_past(records: list[dict[str, object]], seconds: float) -> None:
    newest = max(datetime.fromisoformat(str(r["created"]).replace("Z", "+00:00")) for r in records)
    delay = (newest + timedelta(seconds=seconds) - datetime.now(UTC)).total_seconds()
    await anyio.sleep(max(delay, 0) + 0.2)


async def test_the_sign_in_form_needs_its_own_token(console: Console, pb: PocketBase) -> None:
    """A sign-in posted from elsewhere (login CSRF) is refused before the password is checked."""
    await console.http.get("/admin/login")
    response = await console.http.post("/admin/login", data={"email": OPERATOR, "password": PASSWORD})

    assert response.status_code == 403
    assert await pb.list_records("operator_sessions") == []
    assert await pb.list_records("login_failures") == []


@pytest.mark.parametrize(
    ("target", "lands"),
    [
        ("/admin/audit", "/admin/audit"),
        ("https://evil.example/admin/", "/admin/tenants"),
        ("//evil.example/admin/x", "/admin/tenants"),
        ("/elsewhere", "/admin/tenants"),
    ],
)
async def test_after_sign_in_only_an_admin_path_is_followed(
    console: Console, target: str, lands: str
) -> None:
    form = await console.http.get("/admin/login", params={"next": target})
    response = await console.http.post(
        "/admin/login",
        data={"email": OPERATOR, "password": PASSWORD, "csrf_token": csrf_of(form.text), "next": target},
    )

    assert response.headers["location"] == lands


async def test_sign_out_ends_the_session_everywhere(signed_in: Console, pb: PocketBase) -> None:
    old_cookie = signed_in.http.cookies[COOKIE]
    response = await signed_in.post("/admin/logout")

    assert response.status_code == 303 and response.headers["location"] == "/admin/login"
    assert await pb.list_records("operator_sessions") == []
    assert [e["actor"] for e in await signed_in.audit("admin.signed_out")] == [f"operator:{OPERATOR}"]
    # The old cookie, replayed, is no longer a session.
    replay = await signed_in.get_as("/admin/tenants", old_cookie)
    assert replay.status_code == 303 and replay.headers["location"].startswith("/admin/login")


async def test_an_expired_session_is_refused_and_removed(signed_in: Console, pb: PocketBase) -> None:
    (session,) = await pb.list_records("operator_sessions")
    past = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%d %H:%M:%S.000Z")
    await pb.update_record("operator_sessions", session["id"], {"expires_at": past})

    response = await signed_in.http.get("/admin/tenants")

    assert response.status_code == 303
    assert await pb.list_records("operator_sessions") == []


async def test_a_tampered_cookie_is_no_session(signed_in: Console) -> None:
    value = signed_in.http.cookies[COOKIE]
    tampered = value[:-2] + ("AA" if not value.endswith("AA") else "BB")

    response = await signed_in.get_as("/admin/tenants", tampered)

    assert response.status_code == 303


async def test_cookies_are_secure_behind_https(
    make_ctx: ContextFactory, pb: PocketBase, operator: str
) -> None:
    async with make_console(make_ctx, pb, base_url="https://admin.test") as console:
        response = await console.sign_in()
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith(f"{COOKIE}="))
    assert "Secure" in cookie


async def test_a_session_signed_by_another_key_is_refused(
    make_ctx: ContextFactory, pb: PocketBase, operator: str
) -> None:
    """Replicas share CFA_ADMIN_SECRET_KEY; a cookie signed with another key is not accepted."""
    async with make_console(make_ctx, pb, admin_secret_key="key-one-0123456789") as first:
        await first.sign_in()
        cookie = first.http.cookies[COOKIE]
    async with make_console(make_ctx, pb, admin_secret_key="key-one-0123456789") as same:
        same_key = await same.get_as("/admin/tenants", cookie)
    async with make_console(make_ctx, pb, admin_secret_key="key-two-0123456789") as other:
        other_key = await other.get_as("/admin/tenants", cookie)

    assert same_key.status_code == 200
    assert other_key.status_code == 303
