"""Fixtures for the monitor tests: a Docker engine (skipped without one, required when CI is set),
cleanup of everything this run labelled (``cf.test.monitor=<run id>``), and an Apprise sink."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.monitor.support import IMAGE, RUN_ID, TEST_LABEL, Sink


def docker_url() -> str:
    return os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"Docker is required when CI is set: {reason}")
    pytest.skip(f"no usable Docker engine: {reason}")


def new_client() -> Any:
    import docker

    return docker.APIClient(base_url=docker_url(), version="auto", timeout=60)


@pytest.fixture(scope="session")
def _docker_available() -> None:
    try:
        api = new_client()
        api.ping()
        api.inspect_image(IMAGE)
        api.close()
    except Exception as err:
        _unavailable(f"{type(err).__name__}: {err}")


def remove_test_objects(api: Any) -> None:
    for container in api.containers(all=True, filters={"label": f"{TEST_LABEL}={RUN_ID}"}):
        try:
            api.remove_container(container["Id"], force=True, v=True)
        except Exception:  # noqa: S112 - already gone
            continue
    for volume in (api.volumes(filters={"label": f"{TEST_LABEL}={RUN_ID}"}) or {}).get("Volumes") or []:
        try:
            api.remove_volume(volume["Name"], force=True)
        except Exception:  # noqa: S112 - already gone
            continue


@pytest.fixture
def docker(_docker_available: None) -> Iterator[Any]:
    """A client of the engine (fresh per test: a restarted daemon breaks pooled connections), cleaned
    of test containers and volumes before and after."""
    api = new_client()
    remove_test_objects(api)
    yield api
    api.close()
    api = new_client()
    remove_test_objects(api)
    api.close()


@pytest.fixture
def sink() -> Iterator[Sink]:
    server = Sink()
    yield server
    server.stop()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def tenant() -> str:
    """A tenant slug of this test's own. Other sessions' tenant containers on the shared engine page
    into the test's sink too, so assertions only ever look at messages about this tenant."""
    return unique("t")
