"""Fixtures for the event functions' end-to-end tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from pydantic import SecretStr

from functions.alerts import Alerter
from functions.dispatch import Dispatcher
from functions.runtime import Runtime
from functions.serve import route_event
from shared.catalog import load_catalog
from shared.coolify.client import CoolifyClient
from shared.pocketbase.client import PocketBase
from shared.pocketbase.embedded import PocketBaseServer
from shared.settings import Settings
from tests.cli.conftest import served_coolify
from tests.fakes.coolify import BASE_URL, DEFAULT_TOKEN, FakeCoolify
from tests.functions.conftest import acme, make_ctx, make_settings, templates_dir
from tests.monitor.support import Sink
from tests.serve.harness import PB, Serve, serve_env

__all__ = ["Sink", "acme", "make_ctx", "served_coolify", "templates_dir"]

StartServe = Callable[..., Serve]


@asynccontextmanager
async def dispatching_runtime(
    settings: Settings, pb: PocketBase, coolify_fake: FakeCoolify
) -> AsyncIterator[tuple[Runtime, Dispatcher]]:
    """The event functions' runtime in-process, as ``cfa serve`` wires it (its events go to a running
    dispatcher with two workers); drained and closed on exit."""
    coolify = CoolifyClient(BASE_URL, SecretStr(DEFAULT_TOKEN), transport=coolify_fake.transport())
    rt = Runtime(
        settings=settings,
        pb=pb,
        coolify=coolify,
        catalog=load_catalog(settings.templates_dir),
        alerter=Alerter(settings, retry_for=0),
    )
    dispatcher = Dispatcher(route_event(rt), concurrency=2, metrics=rt.metrics)
    rt.submit = dispatcher.submit
    dispatcher.start()
    try:
        yield rt, dispatcher
    finally:
        dispatcher.stop()
        await dispatcher.drain(5)
        await coolify.aclose()


@pytest.fixture
def start_serve(
    pocketbase: PocketBaseServer, served_coolify: tuple[FakeCoolify, str], tmp_path: Path
) -> Iterator[StartServe]:
    """Start ``cfa serve`` processes (extra CFA_* settings as keyword arguments); all stopped at the end."""
    started: list[Serve] = []
    _, url = served_coolify

    def start(**extra: str) -> Serve:
        number = len(started)
        process = Serve(
            serve_env(pocketbase, url, tmp_path / f"data-{number}", **extra), tmp_path / f"serve-{number}.log"
        )
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()


@pytest.fixture
def sink() -> Iterator[Sink]:
    """An HTTP endpoint Apprise (``json://``) delivers the functions' alerts to."""
    receiver = Sink()
    yield receiver
    receiver.stop()


@pytest.fixture
def writer(pbr: PB, pocketbase: PocketBaseServer) -> Iterator[PB]:
    """A non-superuser (the `users` auth collection), like CloudFreedom's tenant management: it may
    write the secret inbox and read nothing back."""
    password = "writer-password-1"
    pbr.create("users", {"email": "writer@example.com", "password": password, "passwordConfirm": password})
    client = PB(pocketbase.url, "writer@example.com", password, collection="users")
    yield client
    client.close()


@pytest.fixture
def pbr(pocketbase: PocketBaseServer) -> Iterator[PB]:
    """PocketBase's REST API as a superuser."""
    client = PB.superuser(pocketbase)
    yield client
    client.close()


@pytest.fixture
async def runtime(
    pb: PocketBase, coolify_fake: FakeCoolify, sink: Sink
) -> AsyncIterator[tuple[Runtime, Dispatcher]]:
    """The in-process runtime the reconciler and rotation tests drive, alerting to ``sink``."""
    settings = make_settings(apprise_urls=SecretStr(sink.url), actor="functions", provision_wait_seconds=60.0)
    async with dispatching_runtime(settings, pb, coolify_fake) as wired:
        yield wired
