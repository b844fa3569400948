"""``cfa serve``: the event functions in one process — a Starlette app under uvicorn (webhooks, health,
readiness, metrics), the PocketBase realtime subscriber, and a scheduler (APScheduler) for the status
poller and the reconciler. Events go through one :class:`~functions.dispatch.Dispatcher` to one
handler per event type (``functions/handlers/``), which call the operations.

On SIGTERM (uvicorn's shutdown) intake stops (the subscriber, the scheduler, new webhooks get 503),
running handlers get ``CFA_SHUTDOWN_GRACE_SECONDS`` to finish, the rest are cancelled (their tenant
locks are released on the way out), and the process exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from functions.admin.app import admin_app
from functions.alerts import Alert, Alerter
from functions.context import coolify_from_settings
from functions.dispatch import Dispatcher
from functions.events import (
    AnyEvent,
    CoolifyServerChanged,
    CoolifyTaskFinished,
    SecretInputReceived,
    StackDriftFound,
    StackRecordChanged,
    TenantRecordChanged,
)
from functions.handlers import (
    coolify_server_changed,
    coolify_task_finished,
    secret_input_received,
    stack_drift_found,
    stack_record_changed,
    tenant_record_changed,
)
from functions.metrics import FunctionsMetrics
from functions.runtime import Runtime
from functions.sources.backups import BackupSchedule
from functions.sources.poller import StatusPoller
from functions.sources.realtime import RealtimeSubscriber
from functions.sources.reconciler import Reconciler
from functions.sources.webhooks import receiver
from shared.catalog import load_catalog
from shared.errors import CfaError, ConfigurationError
from shared.examples import example_params
from shared.logging import get_logger
from shared.params import validate_params
from shared.plans import get_plan
from shared.pocketbase.connect import pocketbase_from_settings
from shared.rendering import loaded_by_compose, render_stack
from shared.settings import Settings

log = get_logger()


def route_event(rt: Runtime) -> Callable[[AnyEvent, int], Awaitable[None]]:
    """The one handler of each event type."""

    async def handle(event: AnyEvent, attempt: int) -> None:
        match event:
            case TenantRecordChanged():
                await tenant_record_changed.handle(rt, event, attempt)
            case StackRecordChanged():
                await stack_record_changed.handle(rt, event, attempt)
            case StackDriftFound():
                await stack_drift_found.handle(rt, event, attempt)
            case SecretInputReceived():
                await secret_input_received.handle(rt, event, attempt)
            case CoolifyTaskFinished():
                await coolify_task_finished.handle(rt, event, attempt)
            case CoolifyServerChanged():
                await coolify_server_changed.handle(rt, event, attempt)

    return handle


@dataclass
class Functions:
    """The running parts of ``cfa serve`` (built by :func:`build`)."""

    rt: Runtime
    dispatcher: Dispatcher
    subscriber: RealtimeSubscriber
    poller: StatusPoller
    reconciler: Reconciler
    scheduler: AsyncIOScheduler
    backups: BackupSchedule | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    coolify_reachable: bool = False
    coolify_alerted: bool = False
    stopping: bool = False

    async def start(self) -> None:
        await self._warm_up()
        self.dispatcher.start()
        self.tasks.append(asyncio.create_task(self.subscriber.run(), name="realtime"))
        settings = self.rt.settings
        self.scheduler.add_job(
            self._poll,
            "interval",
            seconds=settings.status_poll_seconds,
            id="poller",
            max_instances=1,
            coalesce=True,
        )
        self.scheduler.add_job(
            self._reconcile,
            "interval",
            seconds=settings.reconcile_interval_seconds,
            id="reconciler",
            max_instances=1,
            coalesce=True,
        )
        if self.backups is not None and self.backups.install(self.scheduler):
            self.tasks.append(asyncio.create_task(self._check_backups(), name="first-backup-check"))
        self.scheduler.start()
        self.tasks.append(asyncio.create_task(self._reconcile(), name="first-reconcile"))
        log.info("serve.started", host=settings.serve_host, port=settings.serve_port)

    async def _warm_up(self) -> None:
        """Render every template once per plan (templates compiled, Compose's verdicts cached, imports
        done), so that the first tenant's event pays none of it. A template that fails here is logged;
        its stacks fail with the same reason when they are provisioned."""
        ctx = self.rt.context()
        for template in self.rt.catalog:
            for plan in template.meta.resources:
                try:
                    rendered = render_stack(
                        template,
                        tenant="warm-up",
                        plan=get_plan(plan, ctx.settings),
                        stack="warm-up",
                        params=validate_params(template, example_params(template), require_secrets=False),
                        base_domain=ctx.settings.base_domain or "warm-up.invalid",
                        router_url=str(ctx.settings.router_url or "https://router.invalid/v1"),
                    )
                    await loaded_by_compose(template, rendered, ctx.compose_loader)
                except CfaError as err:
                    log.warning(
                        "serve.template_broken", template=template.name, plan=plan, reason=err.message
                    )

    async def stop(self) -> None:
        """Stop intake, let running handlers finish within the grace period, release everything."""
        self.stopping = True
        log.info("serve.stopping", grace_seconds=self.rt.settings.shutdown_grace_seconds)
        self.scheduler.shutdown(wait=False)
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.dispatcher.stop()
        await self.dispatcher.drain(self.rt.settings.shutdown_grace_seconds)
        await self.rt.alerter.flush()
        await self.subscriber.aclose()
        await self.rt.coolify.aclose()
        await self.rt.pb.aclose()
        log.info("serve.stopped")

    async def _poll(self) -> None:
        calls = self.rt.coolify.calls
        try:
            await self.poller.poll_once()
            if self.rt.coolify.calls > calls:  # only an answer from Coolify says it is reachable
                self.coolify_reachable = True
        except CfaError as err:
            self._unreachable(err)

    async def _check_backups(self) -> None:
        assert self.backups is not None
        await self.backups.check_missed()

    async def _reconcile(self) -> None:
        try:
            await self.reconciler.reconcile_once()
            self.coolify_reachable = True
        except CfaError as err:
            self._unreachable(err)

    def _unreachable(self, err: CfaError) -> None:
        """Alert once per outage (again only after Coolify answered in between)."""
        if self.coolify_reachable or not self.coolify_alerted:
            self.rt.alerter.send(
                Alert(
                    severity="critical",
                    title="the event functions cannot work with Coolify",
                    body=err.one_line(),
                    runbook="coolify-unreachable",
                )
            )
            self.coolify_alerted = True
        self.coolify_reachable = False
        log.warning("serve.coolify_unreachable", error=err.kind, reason=err.message)

    # --- HTTP --------------------------------------------------------------------------------------------

    def app(self) -> Starlette:
        webhook = receiver(self.rt)

        async def hooks(request: Request) -> Response:
            if self.stopping:
                return JSONResponse({"message": "shutting down; Coolify retries"}, status_code=503)
            response: Response = await webhook(request)
            return response

        async def healthz(_request: Request) -> Response:
            return JSONResponse({"status": "ok"})

        async def readyz(_request: Request) -> Response:
            checks = {
                "realtime": self.subscriber.ready,
                "coolify": self.coolify_reachable,
                "stopping": self.stopping,
            }
            ready = checks["realtime"] and checks["coolify"] and not self.stopping
            return JSONResponse({"ready": ready, **checks}, status_code=200 if ready else 503)

        async def metrics(_request: Request) -> Response:
            return Response(generate_latest(self.rt.metrics.registry), media_type=CONTENT_TYPE_LATEST)

        @contextlib.asynccontextmanager
        async def lifespan(_app: Starlette) -> AsyncIterator[None]:
            await self.start()
            try:
                yield
            finally:
                await self.stop()

        return Starlette(
            routes=[
                Route("/healthz", healthz),
                Route("/readyz", readyz),
                Route("/metrics", metrics),
                Route("/hooks/coolify/{token}", hooks, methods=["POST"]),
                Mount("/admin", app=admin_app(self.rt)),
            ],
            lifespan=lifespan,
        )


def build(settings: Settings) -> Functions:
    """Everything ``cfa serve`` runs, on real clients from ``settings`` (the audit actor is
    ``functions``)."""
    if settings.coolify_url is None:
        raise ConfigurationError(
            "cfa serve needs CFA_COOLIFY_URL (the event functions change Coolify; there is no dry run)",
            advice="set CFA_COOLIFY_URL and CFA_COOLIFY_TOKEN",
        )
    settings = settings.model_copy(update={"actor": "functions"})
    coolify, _recorder, _reason = coolify_from_settings(settings, dry_run=False)
    pb = pocketbase_from_settings(settings)
    metrics = FunctionsMetrics()
    rt = Runtime(
        settings=settings,
        pb=pb,
        coolify=coolify,
        catalog=load_catalog(settings.templates_dir),
        alerter=Alerter(settings),
        metrics=metrics,
    )
    dispatcher = Dispatcher(route_event(rt), concurrency=settings.handler_concurrency, metrics=metrics)
    rt.submit = dispatcher.submit
    return Functions(
        rt=rt,
        dispatcher=dispatcher,
        subscriber=RealtimeSubscriber(
            settings,
            pb,
            dispatcher.submit,
            metrics,
            on_outage=lambda down, why: _pocketbase_outage(rt, down, why),
        ),
        poller=StatusPoller(rt),
        reconciler=Reconciler(rt),
        scheduler=AsyncIOScheduler(),
        backups=BackupSchedule(rt),
    )


def _pocketbase_outage(rt: Runtime, down: bool, why: str) -> None:
    rt.alerter.send(
        Alert(
            severity="critical" if down else "resolved",
            title="the event functions cannot reach PocketBase" if down else "PocketBase is reachable again",
            body=why or "The realtime subscription is proven again; a catch-up sweep read what was missed.",
            runbook="pocketbase-unreachable",
        )
    )


async def serve(settings: Settings) -> int:
    """Run until SIGTERM, SIGINT or SIGHUP; returns 0 after a clean shutdown."""
    import uvicorn

    class GracefulServer(uvicorn.Server):
        """uvicorn, except that a signal that ended a clean shutdown is not raised again afterwards
        (uvicorn re-raises it, which would make the exit status 143 instead of 0)."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            original = {sig: signal.signal(sig, self.handle_exit) for sig in _SIGNALS}
            try:
                yield
            finally:
                for sig, handler in original.items():
                    signal.signal(sig, handler)

    functions = build(settings)
    config = uvicorn.Config(
        functions.app(),
        host=settings.serve_host,
        port=settings.serve_port,
        log_config=None,
        access_log=False,
        lifespan="on",
        proxy_headers=True,
        forwarded_allow_ips=settings.serve_forwarded_allow_ips,
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds) + 5,
    )
    server = GracefulServer(config)
    await server.serve()
    return 0


_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
