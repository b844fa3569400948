"""A stateful fake of the Coolify v4.3 API as a Starlette app, after ``../shared/reference/coolify-api.md``.

Use it in-process::

    fake = FakeCoolify()
    async with httpx.AsyncClient(transport=fake.transport(), base_url=fake.base_url) as client: ...

or over a real socket (``with fake.serve() as root_url: ...``; the API is under ``root_url + "/api/v1"``).

Each request passes, in order: latency → spec/convention checks (recorded in ``spec_violations``) →
armed faults → rate limit (429) → route (404 ``Not found.``) → bearer token (401) → ability (403) →
JSON body checks (400) → the handler. ``calls`` logs every request with the status it got.
Time-based behaviour (rate-limit window, start/stop settling, async deletes) runs on the injected
``clock``, so tests step time with :class:`tests.fakes.clock.FakeClock` instead of sleeping.

A submitted compose goes through a model of Coolify's service parser (:mod:`tests.fakes.coolify_parse`,
:mod:`tests.fakes.coolify_envparse`: the 500 after saving, shared-variable and magic-variable
substitution, secret references inlined as plain text); a start writes the ``.env``
(:mod:`tests.fakes.coolify_dotenv`) and runs a model of ``docker compose up``
(:mod:`tests.fakes.coolify_start`, :mod:`tests.fakes.compose_env`), so a test can read what each
container was finally given (:meth:`FakeCoolify.container`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import re
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.coolify_api import CallRecord, Ctx, Reply, message
from tests.fakes.coolify_routes import check_json_body, match_route
from tests.fakes.coolify_state import Container, CoolifyState, Deletion, Destination, Server, Service
from tests.fakes.faults import BEFORE_MODES, Fault, FaultMode
from tests.fakes.openapi import SPEC_PATH, SpecValidator
from tests.fakes.ratelimit import FixedWindowLimiter, Verdict
from tests.fakes.serve import serve_app

DEFAULT_TOKEN = "1|fake-coolify-token"
DEFAULT_ABILITIES = frozenset({"read", "write", "deploy"})
DEFAULT_VERSION = "4.3.10"
BASE_URL = "http://coolify.test/api/v1"
NOT_FOUND = {"message": "Not found.", "docs": "https://coolify.io/docs"}
HEALTH_PATHS = frozenset({"/api/health", "/api/v1/health"})
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class FakeCoolify:
    """The fake: ``app`` to mount, ``state`` to inspect, plus knobs for time, limits and faults.

    Constructor arguments (all keyword-only):

    * ``token``/``abilities``: the accepted bearer token and its abilities (``read``, ``write``,
      ``deploy``, ``root``, ``read:sensitive``). ``tokens`` adds more tokens; ``fake.tokens`` is the
      live mapping and may be edited by tests.
    * ``servers``: the team's servers (default: one ``localhost`` with one ``coolify`` destination).
    * ``rate_limit_per_minute`` (200) over all ``/api/*`` requests; ``/api/health`` has its own 1000.
    * ``latency``: seconds awaited (``asyncio.sleep``) at the start of every request.
    * ``clock``: monotonic seconds; drives the rate-limit window, ``transition_delay`` (how long
      start/stop/restart take to settle) and ``delete_delay``.
    * ``delete_visible_requests``: a deleted service stays visible for this many further requests
      (and at least ``delete_delay`` seconds), then 404s.
    * ``validate_spec``/``spec_path``: check every request against the OpenAPI spec.
    * ``seed``: makes generated uuids reproducible.
    """

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        abilities: Collection[str] = DEFAULT_ABILITIES,
        tokens: Mapping[str, Collection[str]] | None = None,
        servers: Sequence[Server] | None = None,
        rate_limit_per_minute: int = 200,
        health_rate_limit_per_minute: int = 1000,
        latency: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        transition_delay: float = 0.0,
        delete_delay: float = 0.0,
        delete_visible_requests: int = 1,
        version: str = DEFAULT_VERSION,
        validate_spec: bool = True,
        spec_path: Path | None = SPEC_PATH,
        seed: int | None = None,
    ) -> None:
        self.tokens: dict[str, frozenset[str]] = {token: frozenset(abilities)}
        self.tokens.update({k: frozenset(v) for k, v in (tokens or {}).items()})
        self.latency = latency
        self.clock = clock
        self.state = CoolifyState(
            clock=clock,
            seed=seed,
            transition_delay=transition_delay,
            delete_delay=delete_delay,
            delete_visible_requests=delete_visible_requests,
            version=version,
        )
        self.state.servers = list(servers) if servers is not None else [self._default_server()]
        for server in self.state.servers:
            server.id = server.id or self.state.next_id("servers")
            for destination in server.destinations:
                destination.id = destination.id or self.state.next_id("destinations")
        self.limiter = FixedWindowLimiter(rate_limit_per_minute, clock)
        self.health_limiter = FixedWindowLimiter(health_rate_limit_per_minute, clock)
        self.validator = SpecValidator(spec_path) if validate_spec else SpecValidator(None)
        self.spec_violations: list[str] = []
        self.calls: list[CallRecord] = []
        self.faults: list[Fault] = []
        self.timeout_hang_seconds: float | None = None  # set by serve(): hang instead of raising
        self.base_url = BASE_URL
        self.app = Starlette(routes=[Route("/{path:path}", self._endpoint, methods=ALL_METHODS)])

    def _default_server(self) -> Server:
        destination = Destination(uuid=self.state.new_uuid())
        return Server(uuid=self.state.new_uuid(), destinations=[destination])

    # -- knobs and inspection -------------------------------------------------------------------------

    @property
    def spec_available(self) -> bool:
        """Whether requests are being checked against the spec (false if the file is missing)."""
        return self.validator.available

    @property
    def rate_limit_per_minute(self) -> int:
        return self.limiter.limit

    @rate_limit_per_minute.setter
    def rate_limit_per_minute(self, value: int) -> None:
        self.limiter.limit = value

    @property
    def servers(self) -> list[Server]:
        return self.state.servers

    def add_server(self, name: str, **fields: Any) -> Server:
        """Another server of the team (after the existing ones in ``GET /servers``), with one destination;
        ``fields`` set its flags (``is_usable``, ``is_reachable``, ``is_build_server``, ``ip`` …)."""
        destination = Destination(uuid=self.state.new_uuid(), id=self.state.next_id("destinations"))
        server = Server(
            uuid=self.state.new_uuid(),
            name=name,
            description=None,
            destinations=[destination],
            id=self.state.next_id("servers"),
            **fields,
        )
        self.state.servers.append(server)
        return server

    def service(self, uuid: str) -> Service:
        """The stored service (``KeyError`` once its deletion has completed)."""
        self.state.settle()
        return self.state.services[uuid]

    def services_named(self, name: str) -> list[Service]:
        return [s for s in self.state.services.values() if s.name == name]

    def env_values(self, service_uuid: str) -> dict[str, str | None]:
        """The stored env values of a service, unhidden."""
        return self.service(service_uuid).env_values()

    def set_status(self, service_uuid: str, status: str) -> None:
        """Force a status now (e.g. ``running:unhealthy``, ``degraded:unhealthy``); drops any transition."""
        self.state.force_status(self.service(service_uuid), status)

    def set_start_outcome(self, service_uuid: str, status: str) -> None:
        """The status later starts/restarts of this service settle on (default ``running:healthy``)."""
        self.service(service_uuid).start_outcome = status

    def set_shared_variable(self, kind: str, key: str, value: str) -> None:
        """A shared variable of the team (``kind``: team, project, environment or server), as the UI
        sets it; the parser substitutes ``{{kind.key}}`` with ``value`` (§15)."""
        self.state.shared_variables.setdefault(kind, {})[key] = value

    def fail_parse(self, times: int = 1) -> None:
        """Make the next ``times`` parser runs throw, wherever they run (create, PATCH, start)."""
        self.state.parse_failures += times

    def fail_compose_up(
        self, service_uuid: str | None = None, message: str = 'service "app" failed to start'
    ) -> None:
        """Make the next start of this service (of any service, without a uuid) fail inside
        ``docker compose up`` with ``message``, kept in its activity log: ``starting:unhealthy``, then
        ``exited``."""
        if service_uuid is None:
            self.state.compose_up_failures.append(message)
        else:
            self.service(service_uuid).compose_up_failures.append(message)

    def deployed_compose(self, service_uuid: str) -> dict[str, Any]:
        """The compose Coolify deploys (``docker_compose``), after the parser's rewrites."""
        deployed = self.service(service_uuid).deployed
        assert deployed is not None, "the service was never parsed successfully"
        return deployed

    def container(self, service_uuid: str, name: str) -> Container:
        """What the container of compose service ``name`` got at the last successful start."""
        service = self.service(service_uuid)
        assert name in service.containers, f"{name} did not start: {service.activities} {service.failed_jobs}"
        return service.containers[name]

    def finish_deletions(self) -> None:
        """Complete every queued service deletion now."""
        self.state.finish_deletions()

    @property
    def deletions(self) -> list[Deletion]:
        """Every ``DELETE /services/{uuid}`` received, with its flags and what happened to volumes."""
        return self.state.deletions

    @property
    def write_calls(self) -> list[CallRecord]:
        return [c for c in self.calls if c.is_write]

    def calls_to(self, method: str, path_regex: str) -> list[CallRecord]:
        """Logged calls with this method (``"*"``: any) whose path ``re.search``-matches ``path_regex``."""
        pattern = re.compile(path_regex)
        return [c for c in self.calls if method in ("*", c.method) and pattern.search(c.path)]

    def assert_no_spec_violations(self) -> None:
        """Fail with every recorded violation listed (a no-op when none were recorded)."""
        assert not self.spec_violations, "requests broke the Coolify spec:\n" + "\n".join(
            self.spec_violations
        )

    def inject(
        self,
        method: str,
        path_regex: str,
        mode: FaultMode,
        times: int | None = 1,
        *,
        retry_after: int = 1,
    ) -> Fault:
        """Arm a fault for the next ``times`` requests matching ``method`` and ``path_regex``.

        ``path_regex`` is searched in the full path (``/api/v1/services``). Modes:
        ``error_500_before`` (500, nothing changes), ``error_500_after`` (applied, then 500),
        ``timeout_before`` / ``timeout_after`` (``httpx.ReadTimeout`` raised from the app before /
        after applying; under :meth:`serve` the response hangs instead), ``rate_limited`` (429 with
        ``Retry-After: retry_after``). The first armed matching fault wins.
        """
        fault = Fault(method, path_regex, mode, times, retry_after)
        self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        self.faults.clear()

    def transport(self) -> httpx.ASGITransport:
        return httpx.ASGITransport(app=self.app)

    def client(self, token: str | None = None, **kwargs: Any) -> httpx.AsyncClient:
        """An ``AsyncClient`` on the in-process app with the headers Coolify expects."""
        headers = {
            "Authorization": f"Bearer {token or next(iter(self.tokens))}",
            "Accept": "application/json",
        }
        return httpx.AsyncClient(
            transport=self.transport(), base_url=self.base_url, headers=headers, **kwargs
        )

    @contextmanager
    def serve(self, *, hang_seconds: float = 30.0) -> Iterator[str]:
        """Serve the app with uvicorn on 127.0.0.1 and yield the root URL (API at ``+ "/api/v1"``).

        Over a socket a raised exception would reach the client as a 500, so the timeout faults hang
        for ``hang_seconds`` (then answer 504) for the client's own timeout to fire.
        """
        self.timeout_hang_seconds = hang_seconds
        try:
            with serve_app(self.app) as url:
                yield url
        finally:
            self.timeout_hang_seconds = None

    # -- request pipeline -----------------------------------------------------------------------------

    async def _endpoint(self, request: Request) -> Response:
        request.scope["cf_arrived"] = time.time()  # when the request arrived, before the latency
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        method, path = request.method, request.url.path
        raw = await request.body()
        body = _parse_json(raw)
        query = list(request.query_params.multi_items())
        self.state.tick()
        self._check_conventions(request, method, path, query, raw, body)
        fault = next((f for f in self.faults if f.matches(method, path)), None)
        if fault is not None:
            fault.fired += 1
        if fault is not None and fault.mode in BEFORE_MODES:
            return await self._fail(request, fault, body, applied=False)
        reply, limits = self._handle(request, method, path, query, body)
        if fault is not None:
            return await self._fail(request, fault, body, applied=True)
        self._log(method, path, query, body, reply.status, at=request.scope["cf_arrived"])
        return _render(reply, limits)

    def _check_conventions(
        self,
        request: Request,
        method: str,
        path: str,
        query: list[tuple[str, str]],
        raw: bytes,
        body: Any,
    ) -> None:
        problems = self.validator.check(
            method,
            path,
            query,
            body,
            has_body=bool(raw.strip()),
            content_type=request.headers.get("content-type"),
        )
        accepts_json = "application/json" in request.headers.get("accept", "")
        if path.startswith("/api/") and path not in HEALTH_PATHS and not accepts_json:
            problems.append(f"{method} {path}: no 'Accept: application/json' header")
        self.spec_violations.extend(problems)

    def _handle(
        self, request: Request, method: str, path: str, query: list[tuple[str, str]], body: Any
    ) -> tuple[Reply, Verdict | None]:
        if method == "GET" and path in HEALTH_PATHS:
            health = self.health_limiter.hit()
            return (Reply(200, text="OK") if health.allowed else _too_many()), health
        verdict = self.limiter.hit() if path.startswith("/api/") else None
        if verdict is not None and not verdict.allowed:
            return _too_many(), verdict
        route, params = match_route(method, path)
        if route is None:
            return Reply(404, NOT_FOUND), verdict
        abilities = self._token_abilities(request)
        if abilities is None:
            return message(401, "Unauthenticated."), verdict
        if route.ability is not None and not abilities & {route.ability, "root"}:
            return message(403, f"Missing required permissions: {route.ability}"), verdict
        if route.json_body:
            refused = check_json_body(request.headers.get("content-type", ""), body)
            if refused is not None:
                return refused, verdict
        return route.handler(Ctx(self.state, params, dict(query), body, abilities)), verdict

    def _token_abilities(self, request: Request) -> frozenset[str] | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        return self.tokens.get(token.strip())

    async def _fail(self, request: Request, fault: Fault, body: Any, *, applied: bool) -> Response:
        method, path = request.method, request.url.path
        query = list(request.query_params.multi_items())
        if fault.mode == "rate_limited":
            self._log(method, path, query, body, 429, fault.mode, at=request.scope.get("cf_arrived"))
            headers = {"Retry-After": str(fault.retry_after), "X-RateLimit-Limit": str(self.limiter.limit)}
            return JSONResponse(
                {"message": "Too Many Attempts."}, 429, headers=headers | {"X-RateLimit-Remaining": "0"}
            )
        if fault.mode.startswith("error_500"):
            self._log(method, path, query, body, 500, fault.mode, at=request.scope.get("cf_arrived"))
            return JSONResponse({"message": "Server Error"}, 500)
        self._log(method, path, query, body, None, fault.mode, at=request.scope.get("cf_arrived"))
        if self.timeout_hang_seconds is not None:
            await asyncio.sleep(self.timeout_hang_seconds)
            return JSONResponse({"message": "Gateway Timeout"}, 504)
        state = "after" if applied else "before"
        raise httpx.ReadTimeout(
            f"injected read timeout ({state} the request took effect)",
            request=httpx.Request(method, str(request.url)),
        )

    def _log(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]],
        body: Any,
        status: int | None,
        fault: str | None = None,
        *,
        at: float | None = None,
    ) -> None:
        record = CallRecord(method, path, dict(query), body, status, fault)
        if at is not None:
            record = dataclasses.replace(record, at=at)
        self.calls.append(record)


def _parse_json(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _too_many() -> Reply:
    return message(429, "Too Many Attempts.")


def _render(reply: Reply, limits: Verdict | None) -> Response:
    headers = dict(reply.headers)
    if limits is not None:
        headers |= limits.headers()
    if reply.text is not None:
        return Response(reply.text, reply.status, headers=headers, media_type="text/html")
    return JSONResponse(reply.body, reply.status, headers=headers)


def app_factory() -> Starlette:
    """A fresh fake's app, for ``uvicorn --factory tests.fakes.coolify:app_factory`` in a subprocess.

    Reads ``FAKE_COOLIFY_TOKEN``, ``FAKE_COOLIFY_LATENCY`` (seconds) and ``FAKE_COOLIFY_RATE_LIMIT``.
    """
    fake = FakeCoolify(
        token=os.environ.get("FAKE_COOLIFY_TOKEN", DEFAULT_TOKEN),
        latency=float(os.environ.get("FAKE_COOLIFY_LATENCY", "0")),
        rate_limit_per_minute=int(os.environ.get("FAKE_COOLIFY_RATE_LIMIT", "200")),
        validate_spec=False,
    )
    return fake.app
