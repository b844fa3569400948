"""Tests for monitor.inspector: gone containers, one retry on a fresh client, unavailability."""

from __future__ import annotations

from typing import Any

import docker
import docker.errors
import pytest

from monitor.inspector import NUM_POOLS, DockerUnavailable, Inspector, bound_pools, docker_client_factory
from tests.monitor.conftest import docker_url, unique
from tests.monitor.containers import run
from tests.monitor.support import RUN_ID, TEST_LABEL


class Client:
    def __init__(self, behaviour: str) -> None:
        self.behaviour = behaviour
        self.closed = False

    def inspect_container(self, container_id: str) -> dict[str, Any]:
        if self.behaviour == "gone":
            raise docker.errors.NotFound("no such container")
        if self.behaviour == "broken":
            raise ConnectionResetError("stale pooled connection")
        return {"Id": container_id, "Name": "/web", "State": {"Status": "running", "Running": True}}

    def close(self) -> None:
        self.closed = True


def test_a_stale_client_is_replaced_once_and_a_gone_container_is_none() -> None:
    """The first client fails (daemon restarted), the second answers; NotFound means removed."""
    made: list[Client] = []
    behaviours = iter(["broken", "ok", "gone"])

    def factory() -> Client:
        made.append(Client(next(behaviours)))
        return made[-1]

    inspector = Inspector(factory)
    snapshot = inspector.inspect("abc")
    assert snapshot is not None and (snapshot.name, snapshot.running) == ("web", True)
    assert len(made) == 2
    inspector.close()
    assert made[1].closed
    assert inspector.inspect("abc") is None


def test_an_unreachable_daemon_is_a_retryable_error() -> None:
    """Two failures in a row raise DockerUnavailable (retryable in the error tree)."""

    def factory() -> Client:
        raise ConnectionRefusedError("no daemon")

    with pytest.raises(DockerUnavailable) as err:
        Inspector(factory).inspect("abc")
    assert err.value.retryable


@pytest.mark.docker
def test_connections_to_the_daemon_stay_bounded_whatever_the_container_count(docker: Any) -> None:
    """Inspecting more containers than NUM_POOLS keeps at most NUM_POOLS connection pools open."""
    ids = [
        run(docker, unique("cft-pool"), ["true"], labels={TEST_LABEL: RUN_ID}, start=False) for _ in range(8)
    ]
    client = docker_client_factory(docker_url())()
    try:
        inspector = Inspector(lambda: client)
        assert all(inspector.inspect(container_id) is not None for container_id in ids)
        assert len(client.get_adapter("http+docker://localhost").pools) <= NUM_POOLS
    finally:
        client.close()


def test_a_tcp_docker_url_such_as_a_socket_proxy_is_left_as_it_is() -> None:
    """Bounding pools applies to the unix-socket adapter only; a TCP client is returned unchanged."""
    client = docker.APIClient(base_url="tcp://127.0.0.1:9", version="1.41")
    try:
        assert bound_pools(client) is client
    finally:
        client.close()
