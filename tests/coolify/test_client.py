"""Exact requests of the Coolify client (respx), and its error and retry rules."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator

import httpx
import pytest
import respx
from pydantic import SecretStr, ValidationError

from shared.coolify.client import CoolifyClient
from shared.coolify.models import EnvItem, ProjectCreate, ServiceCreate, ServiceUpdate, ServiceUrl
from shared.errors import (
    AmbiguousWriteError,
    AuthError,
    ConfigurationError,
    ConflictError,
    NotFoundError,
    RateLimitedError,
    RejectedError,
)
from shared.ratelimit import SlidingWindowLimiter
from shared.retry import RetryPolicy
from tests.fakes.coolify import DEFAULT_TOKEN, FakeCoolify

pytestmark = pytest.mark.anyio

API = "https://coolify.test/api/v1"
TOKEN = "7|coolify-test-token-abcdef"
COMPOSE = "services:\n  bot:\n    image: registry.example/bot:1.0\n    environment:\n      A: 'x: y'\n"


class Sleeps:
    """Records requested sleeps instead of sleeping."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def coolify(sleeps: Sleeps) -> AsyncIterator[CoolifyClient]:
    async with CoolifyClient(
        API,
        SecretStr(TOKEN),
        sleep=sleeps,
        limiter=SlidingWindowLimiter(1000),
        retry=RetryPolicy(max_attempts=3),
    ) as client:
        yield client


def body_of(route: respx.Route, index: int = -1) -> dict[str, object]:
    loaded: dict[str, object] = json.loads(route.calls[index].request.content)
    return loaded


class TestExactRequests:
    @respx.mock(base_url=API, assert_all_called=True)
    async def test_create_service_sends_strict_base64_and_only_allowed_keys(
        self, respx_mock: respx.MockRouter, coolify: CoolifyClient
    ) -> None:
        """POST /services carries auth + JSON headers, the allowed keys only, and strict base64 compose."""
        route = respx_mock.post("/services").respond(201, json={"uuid": "svc-1", "domains": []})
        created = await coolify.create_service(
            ServiceCreate.from_compose(
                COMPOSE,
                name="cf-acme-bot",
                description="tenant acme, stack bot",
                project_uuid="prj-1",
                server_uuid="srv-1",
                urls=[ServiceUrl(name="bot", url="https://bot-acme.example.com:8080")],
            )
        )
        request = route.calls[0].request
        body = body_of(route)
        raw = str(body["docker_compose_raw"])
        assert created.uuid == "svc-1"
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        assert request.headers["Accept"] == "application/json"
        assert request.headers["Content-Type"] == "application/json"
        assert set(body) == {
            "name",
            "description",
            "project_uuid",
            "environment_name",
            "server_uuid",
            "docker_compose_raw",
            "urls",
            "instant_deploy",
        }
        assert body["environment_name"] == "production"
        assert body["instant_deploy"] is False
        assert "\n" not in raw
        assert base64.b64encode(base64.b64decode(raw, validate=True)).decode() == raw
        assert base64.b64decode(raw).decode() == COMPOSE

    @respx.mock(base_url=API, assert_all_called=True)
    async def test_create_project_body(self, respx_mock: respx.MockRouter, coolify: CoolifyClient) -> None:
        """POST /projects sends exactly name and description and returns the uuid."""
        route = respx_mock.post("/projects").respond(201, json={"uuid": "prj-9"})
        uuid = await coolify.create_project(ProjectCreate(name="cf-acme", description="tenant acme"))
        assert uuid == "prj-9"
        assert body_of(route) == {"name": "cf-acme", "description": "tenant acme"}

    @respx.mock(base_url=API, assert_all_called=True)
    async def test_delete_service_sends_all_four_flags(
        self, respx_mock: respx.MockRouter, coolify: CoolifyClient
    ) -> None:
        """DELETE /services/{uuid} always states all four flags; volumes are kept when asked."""
        route = respx_mock.delete("/services/svc-1").respond(200, json={"message": "queued"})
        await coolify.delete_service("svc-1", delete_volumes=False)
        assert dict(route.calls[0].request.url.params) == {
            "delete_configurations": "true",
            "delete_volumes": "false",
            "docker_cleanup": "true",
            "delete_connected_networks": "true",
        }

    @respx.mock(base_url=API, assert_all_called=True)
    async def test_env_bulk_upsert_body(self, respx_mock: respx.MockRouter, coolify: CoolifyClient) -> None:
        """PATCH /services/{uuid}/envs/bulk wraps the items in ``data`` with literal values."""
        route = respx_mock.patch("/services/svc-1/envs/bulk").respond(201, json=[])
        await coolify.upsert_service_envs("svc-1", [EnvItem(key="TELEGRAM_BOT_TOKEN", value="1:abc")])
        assert body_of(route) == {
            "data": [
                {
                    "key": "TELEGRAM_BOT_TOKEN",
                    "value": "1:abc",
                    "is_literal": True,
                    "is_multiline": False,
                    "is_shown_once": False,
                }
            ]
        }

    @respx.mock(base_url=API, assert_all_called=True)
    async def test_patch_service_sends_only_given_keys(
        self, respx_mock: respx.MockRouter, coolify: CoolifyClient
    ) -> None:
        """PATCH /services/{uuid} omits every key that was not set."""
        route = respx_mock.patch("/services/svc-1").respond(200, json={"uuid": "svc-1", "domains": []})
        await coolify.update_service("svc-1", ServiceUpdate(connect_to_docker_network=False))
        assert body_of(route) == {"connect_to_docker_network": False}

    async def test_request_models_refuse_fields_coolify_rejects(self) -> None:
        """Unknown keys (and connect_to_docker_network on create) fail before any request is sent."""
        with pytest.raises(ValidationError):
            ServiceCreate(
                name="x",
                project_uuid="p",
                server_uuid="s",
                docker_compose_raw="e30=",
                connect_to_docker_network=True,  # type: ignore[call-arg]
            )

    @respx.mock(base_url=API, assert_all_called=True)
    async def test_start_reports_already_running(
        self, respx_mock: respx.MockRouter, coolify: CoolifyClient
    ) -> None:
        """A 400 'already running' on start is not an error: start_service returns False."""
        respx_mock.post("/services/svc-1/start").respond(400, json={"message": "Service is already running."})
        assert await coolify.start_service("svc-1") is False


class TestRetries:
    @respx.mock(base_url=API, assert_all_called=True)
    async def test_429_honours_retry_after(
        self, respx_mock: respx.MockRouter, coolify: CoolifyClient, sleeps: Sleeps
    ) -> None:
        """A 429 waits exactly Retry-After seconds, then the same request succeeds."""
        respx_mock.get("/projects").mock(
            side_effect=[httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(200, json=[])]
        )
        assert await coolify.list_projects() == []
        assert sleeps.calls == [7.0]

    @respx.mock(base_url=API, assert_all_called=True)
    async def test_429_on_post_is_retried_because_the_throttle_runs_first(
        self, respx_mock: respx.MockRouter, coolify: CoolifyClient
    ) -> None:
        """A POST refused by the rate limiter was never processed, so it is sent again."""
        route = respx_mock.post("/projects").mock(
            side_effect=[
                httpx.Response(429, headers={"Retry-After": "1"}),
                httpx.Response(201, json={"uuid": "p"}),
            ]
        )
        assert await coolify.create_project(ProjectCreate(name="cf-acme")) == "p"
        assert route.call_count == 2

    @respx.mock(base_url=API, assert_all_called=True)
    async def test_persistent_429_raises_rate_limited(
        self, respx_mock: respx.MockRouter, coolify: CoolifyClient
    ) -> None:
        """After max attempts of 429 the error is RateLimitedError carrying retry_after."""
        respx_mock.get("/projects").respond(429, headers={"Retry-After": "30"})
        with pytest.raises(RateLimitedError) as caught:
            await coolify.list_projects()
        assert caught.value.retry_after == 30.0

    @respx.mock(base_url=API, assert_all_called=True)
    async def test_get_retries_5xx_with_backoff(
        self, respx_mock: respx.MockRouter, coolify: CoolifyClient, sleeps: Sleeps
    ) -> None:
        """GET on 502 is retried with growing, capped, jittered delays."""
        route = respx_mock.get("/services").mock(
            side_effect=[httpx.Response(502), httpx.Response(503), httpx.Response(200, json=[])]
        )
        assert await coolify.list_services() == []
        assert route.call_count == 3
        assert len(sleeps.calls) == 2
        assert 0.25 <= sleeps.calls[0] <= 0.5 and 0.5 <= sleeps.calls[1] <= 1.0

    @respx.mock(base_url=API, assert_all_called=True)
    async def test_post_5xx_is_ambiguous_and_not_retried(
        self, respx_mock: respx.MockRouter, coolify: CoolifyClient
    ) -> None:
        """A 500 on POST /services may have created the service: raise, never send it twice."""
        route = respx_mock.post("/services").respond(500, json={"message": "Server Error"})
        with pytest.raises(AmbiguousWriteError):
            await coolify.create_service(
                ServiceCreate.from_compose(COMPOSE, name="n", project_uuid="p", server_uuid="s")
            )
        assert route.call_count == 1

    @respx.mock(base_url=API, assert_all_called=True)
    async def test_post_timeout_is_ambiguous_and_not_retried(
        self, respx_mock: respx.MockRouter, coolify: CoolifyClient
    ) -> None:
        """A read timeout after sending POST /projects is ambiguous: one request only."""
        route = respx_mock.post("/projects").mock(side_effect=httpx.ReadTimeout("slow"))
        with pytest.raises(AmbiguousWriteError):
            await coolify.create_project(ProjectCreate(name="cf-acme"))
        assert route.call_count == 1

    @respx.mock(base_url=API, assert_all_called=True)
    async def test_post_connect_error_is_retried(
        self, respx_mock: respx.MockRouter, coolify: CoolifyClient
    ) -> None:
        """A POST whose connection never opened cannot have been applied, so it is retried."""
        route = respx_mock.post("/projects").mock(
            side_effect=[httpx.ConnectError("refused"), httpx.Response(201, json={"uuid": "p"})]
        )
        assert await coolify.create_project(ProjectCreate(name="cf-acme")) == "p"
        assert route.call_count == 2


class TestErrors:
    @respx.mock(base_url=API, assert_all_called=True)
    async def test_422_field_errors_are_normalised(
        self, respx_mock: respx.MockRouter, coolify: CoolifyClient
    ) -> None:
        """Coolify's string-valued field errors become lists, and the message names the field."""
        respx_mock.post("/services").respond(
            422,
            json={
                "message": "Validation failed.",
                "errors": {"docker_compose_raw": "should be base64 encoded."},
            },
        )
        with pytest.raises(RejectedError) as caught:
            await coolify.create_service(
                ServiceCreate.from_compose(COMPOSE, name="n", project_uuid="p", server_uuid="s")
            )
        assert caught.value.field_errors == {"docker_compose_raw": ["should be base64 encoded."]}
        assert "docker_compose_raw" in str(caught.value)

    @respx.mock(base_url=API, assert_all_called=True)
    async def test_401_names_the_token_setting(
        self, respx_mock: respx.MockRouter, coolify: CoolifyClient
    ) -> None:
        """An unauthenticated answer tells the operator to check CFA_COOLIFY_TOKEN."""
        respx_mock.get("/servers").respond(401, json={"message": "Unauthenticated."})
        with pytest.raises(AuthError) as caught:
            await coolify.list_servers()
        assert "CFA_COOLIFY_TOKEN" in caught.value.advice

    @respx.mock(base_url=API, assert_all_called=True)
    async def test_403_missing_ability_names_the_abilities(
        self, respx_mock: respx.MockRouter, coolify: CoolifyClient
    ) -> None:
        """A missing ability says which abilities the token needs."""
        respx_mock.post("/projects").respond(403, json={"message": "Missing required permissions: write"})
        with pytest.raises(AuthError) as caught:
            await coolify.create_project(ProjectCreate(name="cf-acme"))
        assert "write" in caught.value.advice

    @respx.mock(base_url=API, assert_all_called=True)
    async def test_project_with_resources_is_a_conflict(
        self, respx_mock: respx.MockRouter, coolify: CoolifyClient
    ) -> None:
        """Deleting a non-empty project is a ConflictError, not a generic rejection."""
        respx_mock.delete("/projects/p").respond(
            400, json={"message": "Project has resources, so it cannot be deleted."}
        )
        with pytest.raises(ConflictError):
            await coolify.delete_project("p")


class TestNotACoolifyApi:
    """A 404 is trusted only from a verified Coolify API: a wrong base URL is a configuration error."""

    async def test_a_url_ending_in_api_v1_is_named_as_the_mistake(self) -> None:
        """CFA_COOLIFY_URL=https://c/api/v1 makes the client ask /api/v1/api/v1/...: everything 404s."""
        fake = FakeCoolify()
        async with CoolifyClient(
            fake.base_url + "/api/v1", SecretStr(DEFAULT_TOKEN), transport=fake.transport()
        ) as client:
            with pytest.raises(ConfigurationError, match="is not a Coolify API") as caught:
                await client.get_service("abc")
        assert "must not end in /api or /api/v1" in caught.value.message
        assert "CFA_COOLIFY_URL" in caught.value.advice

    @respx.mock(base_url=API)
    async def test_a_real_404_is_a_missing_resource_and_version_is_asked_once(
        self, respx_mock: respx.MockRouter, coolify: CoolifyClient
    ) -> None:
        """With /version answering, a 404 means the resource is gone; the check is not repeated."""
        version = respx_mock.get("/version").respond(200, text="4.3.10")
        respx_mock.get("/services/gone").respond(404, json={"message": "Service not found."})
        for _ in range(2):
            with pytest.raises(NotFoundError):
                await coolify.get_service("gone")
        assert version.call_count == 1

    @respx.mock(base_url=API)
    async def test_version_itself_404_is_a_configuration_error(
        self, respx_mock: respx.MockRouter, coolify: CoolifyClient
    ) -> None:
        """GET /version answering 404 means this is not a Coolify API (doctor's first check)."""
        respx_mock.get("/version").respond(404, text="<html>Not Found</html>")
        with pytest.raises(ConfigurationError, match="not a Coolify API"):
            await coolify.version()
