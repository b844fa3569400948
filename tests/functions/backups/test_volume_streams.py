"""volume_streams on the real engine: a reader that stops half-way leaves nothing behind."""

from __future__ import annotations

import gc
import io
import os
import tarfile

import pytest
from structlog.testing import capture_logs

from functions.operations.backups.volume_streams import LABELS, _archive, docker_errors, read_volumes
from shared.docker_host import docker_client
from shared.errors import NotFoundError
from tests.docker_fixture import DockerEngine


class ReaderStopped(Exception):
    pass


def test_a_reader_that_fails_half_way_leaves_no_helper_and_no_open_connection(
    docker_engine: DockerEngine,
) -> None:
    """restic dying mid-backup: its error comes through, the helper container is removed at once (the
    engine refuses while the archive answer is still open: the removal would wait out the client's
    timeout and leave the helper) and the connection is closed, not left to the garbage collector."""
    volume = docker_engine.volume(f"cfa-test-streams-{docker_engine.run_id}")
    assert (
        docker_engine.sh("head -c 8000000 /dev/urandom > /v/big", {volume: {"bind": "/v", "mode": "rw"}})[0]
        == 0
    )
    client = docker_client(docker_engine.url, timeout=5)
    received: list[bytes] = []

    def write(chunk: bytes) -> None:
        received.append(chunk)
        raise ReaderStopped("restic exited")

    try:
        with capture_logs() as logs, pytest.raises(ReaderStopped):
            read_volumes(client, {"data": volume}, docker_engine.image, write)
        helpers = client.containers(all=True, filters={"label": f"cf.purpose={LABELS['cf.purpose']}"})
    finally:
        client.close()
    gc.collect()  # an unclosed socket would now fail the test (ResourceWarning is an error here)
    assert len(received) == 1
    assert not [h for h in helpers if volume in str(h.get("Mounts"))]
    assert "backup.helper_not_removed" not in [e["event"] for e in logs]


def test_the_whole_archive_is_one_tar_of_every_volume(docker_engine: DockerEngine) -> None:
    """Entries are v/<name>/…, with the files' bytes."""
    volume = docker_engine.volume(f"cfa-test-streams-all-{docker_engine.run_id}")
    assert docker_engine.sh("echo hello > /v/greeting", {volume: {"bind": "/v", "mode": "rw"}})[0] == 0
    client = docker_client(docker_engine.url)
    archive = io.BytesIO()

    def write(chunk: bytes) -> None:
        archive.write(chunk)

    try:
        read_volumes(client, {"home": volume}, docker_engine.image, write)
    finally:
        client.close()
    archive.seek(0)
    with tarfile.open(fileobj=archive) as tar:
        member = tar.extractfile("v/home/greeting")
        assert member is not None and member.read() == b"hello\n"


def test_a_missing_helper_is_a_not_found_error(docker_engine: DockerEngine) -> None:
    """The archive endpoint's 404 keeps Docker's explanation."""
    client = docker_client(docker_engine.url)
    try:
        with pytest.raises(NotFoundError, match="No such container"), docker_errors("reading the volumes"):
            _archive(client, "cfa-no-such-container-" + os.urandom(4).hex())
    finally:
        client.close()
