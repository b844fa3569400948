"""Pytest fixtures and request builders for tests that talk to :class:`~tests.fakes.coolify.FakeCoolify`.

Other test packages can pull the fixtures in from their ``conftest.py`` with
``from tests.fakes.fixtures import coolify_client, coolify_clock, coolify_fake  # noqa: F401``.
``coolify_fake`` is strict: the test fails at teardown if any request broke the OpenAPI spec or the
header conventions; a test that breaks them on purpose clears ``fake.spec_violations`` after
asserting on them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from tests.fakes.clock import FakeClock
from tests.fakes.compose import encode_compose
from tests.fakes.coolify import FakeCoolify

WEB_COMPOSE = """\
services:
  web:
    image: nginx:1.27-alpine
    environment:
      - SERVICE_URL_WEB_80
      - GREETING=${GREETING:-hello}
      - API_TOKEN=${SERVICE_PASSWORD_API}
    volumes:
      - web-data:/usr/share/nginx/html
  db:
    image: postgres:16-alpine
    volumes:
      - db-data:/var/lib/postgresql/data
volumes:
  web-data: null
  db-data: null
"""


def service_body(project_uuid: str, server_uuid: str, /, **overrides: Any) -> dict[str, Any]:
    """A valid ``POST /services`` body for :data:`WEB_COMPOSE`; ``overrides`` replace or add keys."""
    body: dict[str, Any] = {
        "name": "tenant-acme-stack",
        "project_uuid": project_uuid,
        "environment_name": "production",
        "server_uuid": server_uuid,
        "docker_compose_raw": encode_compose(WEB_COMPOSE),
        "instant_deploy": False,
    }
    body.update(overrides)
    return body


@pytest.fixture
def coolify_clock() -> FakeClock:
    """The clock the ``coolify_fake`` runs on; advance it to move the fake's time."""
    return FakeClock()


@pytest.fixture
def coolify_fake(coolify_clock: FakeClock) -> Iterator[FakeCoolify]:
    """A fresh fake on a manual clock; fails the test if spec violations are left at teardown.

    Its uuids are not seeded: stacks' volumes on the shared Docker engine are named after them, and a
    test run at the same time elsewhere must never make (and clean up) the same volume."""
    fake = FakeCoolify(clock=coolify_clock, seed=None)
    yield fake
    fake.assert_no_spec_violations()


@pytest.fixture
async def coolify_client(coolify_fake: FakeCoolify) -> AsyncIterator[httpx.AsyncClient]:
    """An ``AsyncClient`` on the fake with a read/write/deploy token and ``Accept: application/json``."""
    async with coolify_fake.client() as http:
        yield http
