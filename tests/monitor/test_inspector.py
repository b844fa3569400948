"""Tests for monitor.inspector: gone containers, one retry on a fresh client, unavailability."""

from __future__ import annotations

from typing import Any

import docker
import docker.errors
import pytest

from monitor.inspector import (
    NUM_POOLS,
    DockerUnavailable,
    Inspector,
    bound_pools,
    docker_client_factory,
    parse_system_df,
)
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


VOLUME = {"Name": "vol-a", "Labels": None, "UsageData": {"Size": 2048, "RefCount": 1}}
USER = {
    "Id": "c1",
    "Labels": {"cf.tenant": "acme", "cf.stack": "files"},
    "Mounts": [{"Type": "volume", "Name": "vol-a"}, {"Type": "bind", "Source": "/x"}],
}


def test_the_current_disk_usage_shape_is_read() -> None:
    """API ≥ 1.52: VolumesDiskUsage.Items and ContainersDiskUsage.Items (no legacy lists, as in 1.53)."""
    data = {
        "VolumesDiskUsage": {"ActiveCount": 1, "TotalCount": 1, "TotalSize": 2048, "Items": [VOLUME]},
        "ContainersDiskUsage": {"TotalCount": 1, "Items": [USER]},
    }
    [volume] = parse_system_df(data).volumes
    assert (volume.name, volume.size_bytes) == ("vol-a", 2048)
    assert volume.container_labels == [{"cf.tenant": "acme", "cf.stack": "files"}]


def test_the_legacy_disk_usage_shape_is_still_read() -> None:
    """API ≤ 1.51 (Engine 20.10 here): the top-level Volumes and Containers lists."""
    [volume] = parse_system_df({"Volumes": [VOLUME], "Containers": [USER]}).volumes
    assert (volume.name, volume.size_bytes, len(volume.container_labels)) == ("vol-a", 2048, 1)


class DiskUsageClient:
    """Records which /system/df request the inspector makes for a daemon of ``api_version``."""

    def __init__(self, api_version: str) -> None:
        self.api_version = api_version
        self.calls: list[tuple[str, dict[str, Any] | None]] = []

    def df(self) -> dict[str, Any]:
        self.calls.append(("df", None))
        return {"Volumes": [VOLUME], "Containers": [USER]}

    def _url(self, path: str) -> str:
        return f"http+docker://localhost/v{self.api_version}{path}"

    def _get(self, url: str, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        self.calls.append((url, params))
        return url, params

    def _result(self, response: Any, json: bool) -> dict[str, Any]:
        return {"VolumesDiskUsage": {"Items": [VOLUME]}, "ContainersDiskUsage": {"Items": [USER]}}


def test_the_request_follows_the_daemon_api_version() -> None:
    """1.41: the legacy call; 1.52 and later: only volumes and containers, verbose (their items)."""
    old, new = DiskUsageClient("1.41"), DiskUsageClient("1.53")
    assert len(Inspector(lambda: old).volumes().volumes) == 1
    assert len(Inspector(lambda: new).volumes().volumes) == 1
    assert old.calls == [("df", None)]
    assert new.calls == [
        ("http+docker://localhost/v1.53/system/df", {"type": ["volume", "container"], "verbose": 1})
    ]


def test_the_real_engine_answers_in_a_shape_we_read(docker: Any) -> None:
    """Against the engine here (API 1.41): a labelled volume in use is measured with its user's labels."""
    volume = docker.create_volume(unique("cft-df"), labels={TEST_LABEL: RUN_ID})["Name"]
    run(
        docker,
        unique("cft-df-user"),
        ["true"],
        labels={TEST_LABEL: RUN_ID, "cf.tenant": "acme"},
        binds={volume: {"bind": "/data", "mode": "rw"}},
        start=False,
    )
    inspector = Inspector(docker_client_factory(docker_url()))
    try:
        [measured] = [v for v in inspector.volumes().volumes if v.name == volume]
    finally:
        inspector.close()
    assert measured.size_bytes >= 0 and measured.labels[TEST_LABEL] == RUN_ID
    assert [labels.get("cf.tenant") for labels in measured.container_labels] == ["acme"]
