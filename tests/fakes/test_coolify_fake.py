"""The fake's request pipeline: auth, body checks, rate limit, latency, faults, call log, serving."""

from __future__ import annotations

import time
import warnings

import httpx
import pytest
from starlette.exceptions import StarletteDeprecationWarning

from tests.fakes.clock import FakeClock
from tests.fakes.coolify import DEFAULT_TOKEN, FakeCoolify, app_factory

pytestmark = pytest.mark.anyio

JSON = {"Accept": "application/json"}

# starlette 1.10's TestClient warns when it finds httpx instead of httpx2; the warning is about the
# test client's own transport, not about the app under test.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient


class TestAuth:
    async def test_missing_token_is_401(self, coolify_fake: FakeCoolify) -> None:
        """A request without a bearer token gets 401 Unauthenticated."""
        async with httpx.AsyncClient(transport=coolify_fake.transport(), base_url=coolify_fake.base_url) as c:
            response = await c.get("/projects", headers=JSON)
        assert response.status_code == 401
        assert response.json() == {"message": "Unauthenticated."}

    async def test_wrong_token_is_401(self, coolify_fake: FakeCoolify) -> None:
        """A token other than the configured one gets 401."""
        async with coolify_fake.client(token="2|not-the-token") as c:
            response = await c.get("/projects")
        assert response.status_code == 401

    async def test_missing_ability_is_403_naming_it(self) -> None:
        """A read-only token cannot create: 403 names the missing ability."""
        fake = FakeCoolify(abilities={"read"}, clock=FakeClock())
        async with fake.client() as c:
            response = await c.post("/projects", json={"name": "acme"})
        assert response.status_code == 403
        assert response.json() == {"message": "Missing required permissions: write"}

    async def test_deploy_only_token_cannot_read(self) -> None:
        """A deploy-only token gets 403 on GET: reading needs the read ability."""
        fake = FakeCoolify(abilities={"deploy"}, clock=FakeClock())
        async with fake.client() as c:
            response = await c.get("/servers")
        assert response.json() == {"message": "Missing required permissions: read"}

    async def test_root_passes_every_ability_check(self) -> None:
        """A root token may read and write."""
        fake = FakeCoolify(abilities={"root"}, clock=FakeClock())
        async with fake.client() as c:
            assert (await c.get("/servers")).status_code == 200
            assert (await c.post("/projects", json={"name": "acme"})).status_code == 201

    async def test_extra_tokens_have_their_own_abilities(self) -> None:
        """Tokens passed in ``tokens`` are accepted with their own abilities."""
        fake = FakeCoolify(tokens={"9|reader": {"read"}}, clock=FakeClock())
        async with fake.client(token="9|reader") as c:
            assert (await c.get("/projects")).status_code == 200
            assert (await c.post("/projects", json={"name": "acme"})).status_code == 403


class TestBodyChecks:
    async def test_non_json_content_type_is_400(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify
    ) -> None:
        """A form-encoded create is refused with Coolify's content-type error."""
        response = await coolify_client.post("/projects", data={"name": "acme"})
        assert response.status_code == 400
        assert response.json() == {
            "message": "Invalid request.",
            "error": "Content-Type must be application/json.",
        }
        assert coolify_fake.spec_violations == [
            "POST /api/v1/projects: Content-Type 'application/x-www-form-urlencoded' is not application/json"
        ]
        coolify_fake.spec_violations.clear()

    async def test_empty_object_is_400(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify
    ) -> None:
        """``{}`` is refused as Empty JSON."""
        response = await coolify_client.post("/projects", json={})
        assert response.json() == {"message": "Invalid request.", "error": "Empty JSON."}
        assert coolify_fake.spec_violations == []  # the spec marks nothing required on POST /projects

    async def test_invalid_json_is_400(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify
    ) -> None:
        """A body that does not parse as JSON is refused as Invalid JSON."""
        response = await coolify_client.post(
            "/projects", content=b"{nope", headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400
        assert response.json()["error"] == "Invalid JSON."
        coolify_fake.spec_violations.clear()

    async def test_missing_accept_header_is_recorded(self, coolify_fake: FakeCoolify) -> None:
        """A request without ``Accept: application/json`` is answered but recorded as a violation."""
        headers = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}
        transport = coolify_fake.transport()
        async with httpx.AsyncClient(transport=transport, base_url=coolify_fake.base_url) as c:
            response = await c.get("/projects", headers=headers)
        assert response.status_code == 200
        assert coolify_fake.spec_violations == ["GET /api/v1/projects: no 'Accept: application/json' header"]
        coolify_fake.spec_violations.clear()


class TestRouting:
    async def test_unknown_route_is_coolify_404(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify
    ) -> None:
        """An unknown route answers Coolify's catch-all 404 body."""
        response = await coolify_client.get("/nothing-here")
        assert response.status_code == 404
        assert response.json() == {"message": "Not found.", "docs": "https://coolify.io/docs"}
        assert coolify_fake.spec_violations == ["GET /api/v1/nothing-here: path not in the spec"]
        coolify_fake.spec_violations.clear()

    async def test_version_is_plain_text(self, coolify_client: httpx.AsyncClient) -> None:
        """``GET /version`` answers the bare version string as text."""
        response = await coolify_client.get("/version")
        assert response.text == "4.3.10"
        assert response.headers["content-type"].startswith("text/html")

    async def test_health_needs_no_token(self, coolify_fake: FakeCoolify) -> None:
        """``GET /api/health`` answers OK without authentication."""
        async with httpx.AsyncClient(transport=coolify_fake.transport(), base_url="http://coolify.test") as c:
            response = await c.get("/api/health")
        assert (response.status_code, response.text) == (200, "OK")

    async def test_trailing_slash_is_ignored(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify
    ) -> None:
        """``/projects/`` reaches ``/projects`` (Laravel trims the slash), but the spec check flags it."""
        response = await coolify_client.get("/projects/")
        assert response.status_code == 200
        assert coolify_fake.spec_violations == ["GET /api/v1/projects/: path not in the spec"]
        coolify_fake.spec_violations.clear()


class TestRateLimit:
    async def test_over_the_limit_is_429_with_headers(self, coolify_clock: FakeClock) -> None:
        """The request after the limit gets 429 with Retry-After and the X-RateLimit headers."""
        fake = FakeCoolify(rate_limit_per_minute=3, clock=coolify_clock)
        async with fake.client() as c:
            statuses = [(await c.get("/projects")).status_code for _ in range(3)]
            coolify_clock.advance(20)
            refused = await c.get("/projects")
        assert statuses == [200, 200, 200]
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "40"
        assert refused.headers["X-RateLimit-Limit"] == "3"
        assert refused.headers["X-RateLimit-Remaining"] == "0"

    async def test_window_reopens_after_a_minute(self, coolify_clock: FakeClock) -> None:
        """Once the window has passed, requests are allowed again."""
        fake = FakeCoolify(rate_limit_per_minute=1, clock=coolify_clock)
        async with fake.client() as c:
            await c.get("/projects")
            assert (await c.get("/projects")).status_code == 429
            coolify_clock.advance(60)
            assert (await c.get("/projects")).status_code == 200

    async def test_every_api_request_counts(self, coolify_clock: FakeClock) -> None:
        """Unauthenticated requests and unknown routes use up the same budget."""
        fake = FakeCoolify(rate_limit_per_minute=2, clock=coolify_clock, validate_spec=False)
        async with fake.client(token="wrong") as c:
            await c.get("/projects")
            await c.get("/unknown")
        async with fake.client() as c:
            assert (await c.get("/projects")).status_code == 429

    async def test_successful_responses_carry_remaining(self, coolify_client: httpx.AsyncClient) -> None:
        """Allowed responses report the limit and what is left of it."""
        response = await coolify_client.get("/projects")
        assert response.headers["X-RateLimit-Limit"] == "200"
        assert response.headers["X-RateLimit-Remaining"] == "199"

    async def test_limit_can_be_changed_later(
        self, coolify_fake: FakeCoolify, coolify_client: httpx.AsyncClient
    ) -> None:
        """``rate_limit_per_minute`` is a live setting."""
        coolify_fake.rate_limit_per_minute = 1
        await coolify_client.get("/projects")
        assert (await coolify_client.get("/projects")).status_code == 429


class TestLatency:
    async def test_latency_delays_each_request(self) -> None:
        """With ``latency`` set, a request takes at least that long."""
        fake = FakeCoolify(latency=0.05, clock=FakeClock())
        async with fake.client() as c:
            started = time.monotonic()
            await c.get("/projects")
        assert time.monotonic() - started >= 0.05


class TestFaults:
    async def test_500_before_changes_nothing(
        self, coolify_fake: FakeCoolify, coolify_client: httpx.AsyncClient
    ) -> None:
        """``error_500_before`` answers 500 and creates nothing."""
        coolify_fake.inject("POST", r"/projects$", "error_500_before")
        response = await coolify_client.post("/projects", json={"name": "acme"})
        assert response.status_code == 500
        assert coolify_fake.state.projects == {}

    async def test_500_after_applies_the_request(
        self, coolify_fake: FakeCoolify, coolify_client: httpx.AsyncClient
    ) -> None:
        """``error_500_after`` creates the project, then answers 500."""
        coolify_fake.inject("POST", r"/projects$", "error_500_after")
        response = await coolify_client.post("/projects", json={"name": "acme"})
        assert response.status_code == 500
        assert [p.name for p in coolify_fake.state.projects.values()] == ["acme"]

    async def test_timeout_after_applies_then_times_out(
        self, coolify_fake: FakeCoolify, coolify_client: httpx.AsyncClient
    ) -> None:
        """``timeout_after`` reaches the client as ReadTimeout, yet the project exists."""
        coolify_fake.inject("POST", r"/projects$", "timeout_after")
        with pytest.raises(httpx.ReadTimeout):
            await coolify_client.post("/projects", json={"name": "acme"})
        assert len(coolify_fake.state.projects) == 1
        assert coolify_fake.calls[-1].status is None

    async def test_timeout_before_changes_nothing(
        self, coolify_fake: FakeCoolify, coolify_client: httpx.AsyncClient
    ) -> None:
        """``timeout_before`` raises ReadTimeout without creating anything."""
        coolify_fake.inject("POST", r"/projects$", "timeout_before")
        with pytest.raises(httpx.ReadTimeout):
            await coolify_client.post("/projects", json={"name": "acme"})
        assert coolify_fake.state.projects == {}

    async def test_rate_limited_carries_retry_after(
        self, coolify_fake: FakeCoolify, coolify_client: httpx.AsyncClient
    ) -> None:
        """An injected 429 has a Retry-After header and changes nothing."""
        coolify_fake.inject("*", r"/projects", "rate_limited", retry_after=7)
        response = await coolify_client.post("/projects", json={"name": "acme"})
        assert response.status_code == 429
        assert response.headers["Retry-After"] == "7"
        assert coolify_fake.state.projects == {}

    async def test_fault_fires_only_times(
        self, coolify_fake: FakeCoolify, coolify_client: httpx.AsyncClient
    ) -> None:
        """A fault armed for two requests fails two and then lets requests through."""
        fault = coolify_fake.inject("GET", r"/projects", "error_500_before", times=2)
        statuses = [(await coolify_client.get("/projects")).status_code for _ in range(3)]
        assert statuses == [500, 500, 200]
        assert fault.fired == 2

    async def test_fault_matches_method(
        self, coolify_fake: FakeCoolify, coolify_client: httpx.AsyncClient
    ) -> None:
        """A POST fault leaves GETs on the same path alone."""
        coolify_fake.inject("POST", r"/projects", "error_500_before")
        assert (await coolify_client.get("/projects")).status_code == 200

    def test_unknown_mode_is_refused(self, coolify_fake: FakeCoolify) -> None:
        """Arming a fault with a mode that does not exist fails at once."""
        with pytest.raises(ValueError, match="unknown fault mode"):
            coolify_fake.inject("GET", ".*", "explode")  # type: ignore[arg-type]


class TestCallLog:
    async def test_records_method_path_query_body_status(
        self, coolify_fake: FakeCoolify, coolify_client: httpx.AsyncClient
    ) -> None:
        """Every request is logged in order with its query, parsed body and status."""
        await coolify_client.post("/projects", json={"name": "acme"})
        await coolify_client.get("/projects", params={"x": "1"})
        first, second = coolify_fake.calls
        assert (first.method, first.path, first.body, first.status) == (
            "POST",
            "/api/v1/projects",
            {"name": "acme"},
            201,
        )
        assert (second.method, second.query, second.status) == ("GET", {"x": "1"}, 200)
        coolify_fake.spec_violations.clear()  # ?x=1 is not in the spec

    async def test_write_calls_excludes_reads(
        self, coolify_fake: FakeCoolify, coolify_client: httpx.AsyncClient
    ) -> None:
        """``write_calls`` is empty after reads only: the way to assert "zero writes"."""
        await coolify_client.get("/projects")
        await coolify_client.get("/servers")
        assert coolify_fake.write_calls == []
        assert len(coolify_fake.calls_to("GET", r"/servers$")) == 1


class TestServing:
    def test_sync_test_client_works(self, coolify_fake: FakeCoolify) -> None:
        """The app runs under Starlette's TestClient too."""
        with TestClient(coolify_fake.app, base_url="http://coolify.test") as c:
            response = c.get("/api/v1/servers", headers={"Authorization": f"Bearer {DEFAULT_TOKEN}", **JSON})
        assert response.status_code == 200

    def test_timeout_fault_raises_through_test_client(self, coolify_fake: FakeCoolify) -> None:
        """Under the sync TestClient an injected timeout surfaces as httpx.ReadTimeout."""
        coolify_fake.inject("GET", r"/servers$", "timeout_before")
        with (
            TestClient(coolify_fake.app, base_url="http://coolify.test") as c,
            pytest.raises(httpx.ReadTimeout),
        ):
            c.get("/api/v1/servers", headers={"Authorization": f"Bearer {DEFAULT_TOKEN}", **JSON})

    def test_uvicorn_serves_on_loopback(self, coolify_fake: FakeCoolify) -> None:
        """``serve()`` runs the fake with uvicorn on 127.0.0.1 and stops it afterwards."""
        with coolify_fake.serve() as root:
            assert root.startswith("http://127.0.0.1:")
            headers = {"Authorization": f"Bearer {DEFAULT_TOKEN}", **JSON}
            response = httpx.get(f"{root}/api/v1/servers", headers=headers)
        assert response.status_code == 200
        assert response.json()[0]["name"] == "localhost"

    async def test_app_factory_builds_a_fresh_fake(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """``app_factory`` (for ``uvicorn --factory``) reads its token from the environment."""
        monkeypatch.setenv("FAKE_COOLIFY_TOKEN", "5|from-env")
        transport = httpx.ASGITransport(app=app_factory())
        headers = {"Authorization": "Bearer 5|from-env", **JSON}
        async with httpx.AsyncClient(transport=transport, base_url="http://coolify.test") as client:
            response = await client.get("/api/v1/servers", headers=headers)
        assert response.status_code == 200

    def test_uvicorn_timeout_fault_hangs(self, coolify_fake: FakeCoolify) -> None:
        """Over a socket, a timeout fault makes the client's own read timeout fire."""
        coolify_fake.inject("GET", r"/servers$", "timeout_before")
        with coolify_fake.serve(hang_seconds=0.4) as root, pytest.raises(httpx.ReadTimeout):
            headers = {"Authorization": f"Bearer {DEFAULT_TOKEN}", **JSON}
            httpx.get(f"{root}/api/v1/servers", headers=headers, timeout=0.2)
