"""The one Coolify API client.

Retries: reads, PATCH and DELETE are retried on connection failures, timeouts, 429 and 5xx with
capped, jittered backoff (``Retry-After`` wins on 429). A POST is retried only when Coolify cannot have
acted on it (the connection was never made, or 429 from the throttle that runs before any
controller). Any other POST failure raises ``AmbiguousWriteError``: the caller must look the resource
up by its deterministic name before trying again. Every request first takes a slot from the
client-side rate limiter.

A 404 is trusted as "no such resource" only once ``GET /version`` has answered: a base URL that is not
a Coolify API (e.g. ``CFA_COOLIFY_URL`` ending in ``/api/v1``, which the client appends itself) answers
404 to everything, and reading that as "missing" would make every stack look gone. Such a 404 raises
``ConfigurationError`` instead, with advice.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx
from pydantic import BaseModel, SecretStr, TypeAdapter

from shared.coolify.models import (
    ENVIRONMENT,
    Destination,
    Environment,
    EnvItem,
    Project,
    ProjectCreate,
    ProjectSummary,
    Server,
    Service,
    ServiceCreate,
    ServiceCreated,
    ServiceUpdate,
    WebhookNotificationsUpdate,
)
from shared.errors import (
    AmbiguousWriteError,
    AuthError,
    ConfigurationError,
    ConflictError,
    NotFoundError,
    RateLimitedError,
    RejectedError,
    UnavailableError,
)
from shared.logging import get_logger
from shared.ratelimit import SlidingWindowLimiter
from shared.retry import RetryPolicy, parse_retry_after

log = get_logger()

T = TypeVar("T")
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class CoolifyClient:
    """Async client for ``<coolify>/api/v1``. Use as ``async with CoolifyClient(...) as coolify``."""

    def __init__(
        self,
        api_base: str,
        token: SecretStr,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 30.0,
        limiter: SlidingWindowLimiter | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
        server_cache_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api_base = api_base.rstrip("/")
        self._http = httpx.AsyncClient(
            base_url=self.api_base,
            transport=transport,
            timeout=timeout,
            headers={
                "Authorization": f"Bearer {token.get_secret_value()}",
                "Accept": "application/json",
            },
        )
        self.limiter = limiter or SlidingWindowLimiter(190)
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._rng = rng or random.Random()
        self.calls = 0
        # Servers and destinations change rarely; a burst of provisions should not list them each time.
        self._server_cache_seconds = server_cache_seconds
        self._clock = clock
        self._cache: dict[str, tuple[float, Any]] = {}
        self._cache_locks: dict[str, asyncio.Lock] = {}
        self._api_verified = False

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- servers -------------------------------------------------------------------------------------

    async def list_servers(self) -> list[Server]:
        """All servers (cached for ``server_cache_seconds``)."""
        return await self._cached("/servers", lambda: self._get_list("/servers", Server))

    async def get_server(self, uuid: str) -> Server:
        return await self._get_one(f"/servers/{uuid}", Server)

    async def list_destinations(self, server_uuid: str) -> list[Destination]:
        """A server's destinations (cached for ``server_cache_seconds``)."""
        path = f"/servers/{server_uuid}/destinations"
        return await self._cached(path, lambda: self._get_list(path, Destination))

    async def _cached(self, key: str, load: Callable[[], Awaitable[T]]) -> T:
        """One load per key at a time; concurrent callers wait for it instead of all asking Coolify."""
        async with self._cache_locks.setdefault(key, asyncio.Lock()):
            hit = self._cache.get(key)
            if hit is not None and self._clock() - hit[0] < self._server_cache_seconds:
                cached: T = hit[1]
                return cached
            value = await load()
            self._cache[key] = (self._clock(), value)
            return value

    async def version(self) -> str:
        response = await self._send("GET", "/version")
        return response.text.strip().strip('"')

    # --- projects ------------------------------------------------------------------------------------

    async def list_projects(self) -> list[ProjectSummary]:
        return await self._get_list("/projects", ProjectSummary)

    async def find_projects(self, name: str) -> list[ProjectSummary]:
        """Projects named exactly ``name`` (Coolify does not keep names unique)."""
        return [p for p in await self.list_projects() if p.name == name]

    async def get_project(self, uuid: str) -> Project:
        return await self._get_one(f"/projects/{uuid}", Project)

    async def get_environment(self, project_uuid: str, environment: str = ENVIRONMENT) -> Environment:
        return await self._get_one(f"/projects/{project_uuid}/{environment}", Environment)

    async def create_project(self, body: ProjectCreate) -> str:
        """Create a project; returns its uuid. Never retried once sent (see module docstring)."""
        response = await self._send("POST", "/projects", json=_body(body))
        return str(response.json()["uuid"])

    async def delete_project(self, uuid: str) -> None:
        """Delete an empty project. Coolify refuses (400) while any resource remains: ConflictError."""
        await self._send("DELETE", f"/projects/{uuid}")

    # --- services ------------------------------------------------------------------------------------

    async def list_services(self) -> list[Service]:
        return await self._get_list("/services", Service)

    async def get_service(self, uuid: str) -> Service:
        return await self._get_one(f"/services/{uuid}", Service)

    async def create_service(self, body: ServiceCreate) -> ServiceCreated:
        """Create a compose service (not started). Never retried once sent (see module docstring)."""
        response = await self._send("POST", "/services", json=_body(body))
        return ServiceCreated.model_validate(response.json())

    async def update_service(self, uuid: str, body: ServiceUpdate) -> ServiceCreated:
        response = await self._send("PATCH", f"/services/{uuid}", json=_body(body))
        return ServiceCreated.model_validate(response.json())

    async def delete_service(
        self,
        uuid: str,
        *,
        delete_volumes: bool,
        delete_configurations: bool = True,
        docker_cleanup: bool = True,
        delete_connected_networks: bool = True,
    ) -> None:
        """Queue the deletion (asynchronous in Coolify: poll ``get_service`` until NotFoundError).

        ``delete_volumes`` has no default on purpose: Coolify's own default deletes tenant data.
        """
        params = {
            "delete_configurations": _flag(delete_configurations),
            "delete_volumes": _flag(delete_volumes),
            "docker_cleanup": _flag(docker_cleanup),
            "delete_connected_networks": _flag(delete_connected_networks),
        }
        await self._send("DELETE", f"/services/{uuid}", params=params)

    async def start_service(self, uuid: str) -> bool:
        """Queue a start; False if Coolify says it is already running."""
        return await self._lifecycle(uuid, "start", "already running")

    async def stop_service(self, uuid: str) -> bool:
        """Queue a stop; False if Coolify says it is already stopped."""
        return await self._lifecycle(uuid, "stop", "already stopped")

    async def restart_service(self, uuid: str) -> None:
        await self._send("POST", f"/services/{uuid}/restart")

    async def upsert_service_envs(self, uuid: str, items: list[EnvItem]) -> None:
        """Create or update variables by key. Takes effect at the next start/restart."""
        if not items:
            return
        body = {"data": [item.model_dump(mode="json") for item in items]}
        # An upsert by key: repeating it is harmless, so it may be retried like a PATCH.
        await self._send("PATCH", f"/services/{uuid}/envs/bulk", json=body)

    # --- notifications -------------------------------------------------------------------------------

    async def get_webhook_notifications(self) -> dict[str, Any]:
        """The team's webhook channel (``webhook_url`` only with a ``read:sensitive`` or root token)."""
        response = await self._send("GET", "/notifications/webhook")
        settings: dict[str, Any] = response.json()
        return settings

    async def update_webhook_notifications(self, body: WebhookNotificationsUpdate) -> dict[str, Any]:
        """Change the team's webhook channel; repeating it is harmless (retried like a PATCH)."""
        response = await self._send("PATCH", "/notifications/webhook", json=_body(body))
        settings: dict[str, Any] = response.json()
        return settings

    async def diagnostic_post(self, path: str, body: object) -> None:
        """Send a POST that must not change anything (``cfa doctor``'s ability probes)."""
        await self._send("POST", path, json=body)

    async def _lifecycle(self, uuid: str, action: str, benign: str) -> bool:
        try:
            await self._send("POST", f"/services/{uuid}/{action}")
        except RejectedError as err:
            if benign in err.message.lower():
                return False
            raise
        return True

    # --- plumbing ------------------------------------------------------------------------------------

    async def _get_list(self, path: str, model: type[T]) -> list[T]:
        response = await self._send("GET", path)
        return TypeAdapter(list[model]).validate_python(response.json())  # type: ignore[valid-type]

    async def _get_one(self, path: str, model: type[T]) -> T:
        response = await self._send("GET", path)
        return TypeAdapter(model).validate_python(response.json())

    async def _send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, str] | None = None,
    ) -> httpx.Response:
        """Send with the retry rules of the module docstring; return a 2xx response or raise."""
        idempotent = method != "POST"
        attempt = 0
        while True:
            attempt += 1
            await self.limiter.acquire()
            self.calls += 1
            try:
                response = await self._http.request(method, path, json=json, params=params)
            except httpx.TransportError as err:
                sent = not isinstance(err, _NOT_SENT)
                error: UnavailableError = (
                    AmbiguousWriteError(
                        f"Coolify {method} {path}: {type(err).__name__} after sending; "
                        "the change may have happened",
                        advice="look the resource up before retrying (re-running the command does this)",
                    )
                    if sent and not idempotent
                    else UnavailableError(
                        f"Coolify {method} {path}: {type(err).__name__}",
                        advice="check CFA_COOLIFY_URL and that Coolify is reachable, then retry",
                    )
                )
                if isinstance(error, AmbiguousWriteError) or attempt >= self.retry.max_attempts:
                    raise error from err
                await self._backoff(method, path, attempt, reason=type(err).__name__)
                continue

            if response.status_code < 400:
                return response
            if response.status_code == 429:
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                wait = min(
                    retry_after if retry_after is not None else self.retry.backoff(attempt, self._rng),
                    self.retry.max_retry_after_seconds,
                )
                if attempt >= self.retry.max_attempts:
                    raise RateLimitedError(
                        f"Coolify rate limit: {method} {path} still refused after {attempt} attempts",
                        retry_after=wait,
                        advice="lower CFA_COOLIFY_RATE_LIMIT_PER_MINUTE or raise API_RATE_LIMIT on Coolify",
                    )
                log.info("coolify.rate_limited", method=method, path=path, attempt=attempt, wait_seconds=wait)
                await self._sleep(wait)
                continue
            if response.status_code >= 500:
                if not idempotent:
                    raise AmbiguousWriteError(
                        f"Coolify {method} {path}: {response.status_code} {_message(response)}",
                        advice="the change may have happened; re-running looks it up before creating",
                    )
                if attempt < self.retry.max_attempts:
                    await self._backoff(method, path, attempt, reason=str(response.status_code))
                    continue
                raise UnavailableError(
                    f"Coolify {method} {path}: {response.status_code} {_message(response)}",
                    advice="Coolify is failing; check its logs and retry later",
                )
            if response.status_code == 404:
                await self._verify_api(path)
            raise _client_error(method, path, response)

    async def _verify_api(self, path: str) -> None:
        """Make sure a 404 came from a Coolify API (see module docstring); ConfigurationError if not."""
        if self._api_verified:
            return
        probe = 404 if path == "/version" else await self._probe_version()
        if probe is None:
            raise UnavailableError(
                f"Coolify GET {path} answered 404 and Coolify could not be reached to confirm it",
                advice="check that Coolify is reachable, then retry",
            )
        if probe != 404:
            self._api_verified = True
            return
        base = self.api_base
        hint = ""
        if base.removesuffix("/api/v1").rstrip("/").endswith(("/api/v1", "/api")):
            hint = " (CFA_COOLIFY_URL must not end in /api or /api/v1: the client appends /api/v1)"
        raise ConfigurationError(
            f"{base} is not a Coolify API: GET {base}/version answered 404{hint}",
            advice="set CFA_COOLIFY_URL to Coolify's own address, e.g. https://coolify.example.com, "
            "then run cfa doctor",
        )

    async def _probe_version(self) -> int | None:
        """The status of ``GET /version`` (None when Coolify could not be reached at all)."""
        await self.limiter.acquire()
        self.calls += 1
        try:
            return (await self._http.get("/version")).status_code
        except httpx.TransportError:
            return None

    async def _backoff(self, method: str, path: str, attempt: int, *, reason: str) -> None:
        delay = self.retry.backoff(attempt, self._rng)
        log.info(
            "coolify.retrying", method=method, path=path, attempt=attempt, reason=reason, wait_seconds=delay
        )
        await self._sleep(delay)


def _body(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json", exclude_none=True)


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _message(response: httpx.Response) -> str:
    body = _json(response)
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return response.text[:200]


def _field_errors(response: httpx.Response) -> dict[str, list[str]]:
    body = _json(response)
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, dict):
        return {}
    # Some hand-built Coolify errors put a string, not a list, under the field.
    return {str(k): [str(v)] if isinstance(v, str) else [str(x) for x in v] for k, v in errors.items()}


def _client_error(method: str, path: str, response: httpx.Response) -> Exception:
    status, message = response.status_code, _message(response)
    where = f"Coolify {method} {path}"
    if status == 401 or (status == 400 and message == "Invalid token."):
        return AuthError(
            f"{where}: the API token was rejected ({message})",
            advice="check CFA_COOLIFY_TOKEN (tokens expire; the default lifetime is 30 days)",
        )
    if status == 403:
        if "disabled" in message.lower() or "not allowed to access" in message.lower():
            advice = (
                "enable the API in Coolify (Settings → Advanced → API Access) and check its IP allow-list"
            )
        else:
            advice = "give the token the read, write and deploy abilities (or root)"
        return AuthError(f"{where}: {message}", advice=advice)
    if status == 404:
        return NotFoundError(f"{where}: {message}")
    if status == 409:
        return ConflictError(f"{where}: {message}", details={"body": _json(response)})
    if status == 400 and "has resources" in message:
        return ConflictError(f"{where}: {message}", advice="delete the project's resources first")
    field_errors = _field_errors(response)
    if field_errors:
        detail = "; ".join(f"{k}: {' '.join(v)}" for k, v in sorted(field_errors.items()))
        return RejectedError(f"{where}: {message} ({detail})", field_errors=field_errors)
    return RejectedError(f"{where}: {status} {message}")
