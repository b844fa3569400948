"""Fixtures for the event functions' end-to-end tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from shared.pocketbase.embedded import PocketBaseServer
from tests.cli.conftest import served_coolify
from tests.fakes.coolify import FakeCoolify
from tests.functions.conftest import acme, make_ctx, templates_dir
from tests.monitor.support import Sink
from tests.serve.harness import PB, Serve, serve_env

__all__ = ["Sink", "acme", "make_ctx", "served_coolify", "templates_dir"]

StartServe = Callable[..., Serve]


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
