"""The stack suite: real containers of every template on a private Docker engine, against fakes.

It runs only through ``make test-stacks`` (and ``make test-stacks-full``), whose script starts the
private engine, builds the images offline and passes their references in ``CFA_STACKS_*``; plain
``make test`` leaves this directory out (``--ignore`` in pyproject's pytest options)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.stacks.harness import RunEnv, run_env

RUN = run_env()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "full: needs the multi-GB Open WebUI image (make test-stacks-full)")


@pytest.fixture(scope="session")
def run() -> RunEnv:
    if RUN is None:
        pytest.fail(
            "tests/stacks runs through `make test-stacks` (scripts/stacks/run starts the private engine "
            "and builds the images it needs)"
        )
    return RUN


@pytest.fixture(scope="session")
def api(run: RunEnv) -> Iterator[Any]:
    import docker

    client = docker.APIClient(base_url=run.docker_host, version="1.41", timeout=120)
    yield client
    client.close()
