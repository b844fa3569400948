"""Blocking reads of container state (inspect, list, volume sizes) for the processing loop.

Called through ``asyncio.to_thread``. A container that is already gone inspects as None; an
unreachable daemon raises :class:`DockerUnavailable` (a retryable error), after one retry with a
fresh client, because a pooled connection to a restarted daemon fails once.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

from monitor.events import VolumeMeasured, VolumesMeasured
from monitor.snapshot import ContainerSnapshot
from shared.errors import UnavailableError


class DockerUnavailable(UnavailableError):
    """The Docker API did not answer."""


# docker-py's unix-socket adapter keeps one connection pool per request URL (for inspect: one per
# container), up to 25 of them, and ignores ``num_pools`` for non-SSH URLs (an operator-precedence slip
# in APIClient.__init__). Bounding the pools keeps the open connections few, whatever the container count.
NUM_POOLS = 4


def docker_client_factory(base_url: str, timeout: float = 10.0) -> Callable[[], Any]:
    """A factory of low-level docker-py clients for ``base_url`` (never the CLI's context)."""

    def make() -> Any:
        import docker

        return bound_pools(docker.APIClient(base_url=base_url, version="auto", timeout=timeout))

    return make


def bound_pools(client: Any) -> Any:
    """Limit the unix-socket adapter to NUM_POOLS pools; TCP (e.g. a socket proxy) keeps one pool anyway."""
    from urllib3._collections import RecentlyUsedContainer

    if not str(client.base_url).startswith("http+docker://"):
        return client  # plain HTTP(S) to one host: a single pool already
    adapter = client.get_adapter(client.base_url)
    if hasattr(adapter, "pools"):
        adapter.pools.clear()
        adapter.pools = RecentlyUsedContainer(NUM_POOLS, dispose_func=lambda pool: pool.close())
    return client


class Inspector:
    def __init__(self, client_factory: Callable[[], Any]) -> None:
        self._factory = client_factory
        self._client: Any = None
        self._lock = threading.Lock()

    def _call(self, fn: Callable[[Any], Any]) -> Any:
        import docker.errors

        last: Exception | None = None
        for _ in range(2):
            with self._lock:
                if self._client is None:
                    try:
                        self._client = self._factory()
                    except Exception as err:  # daemon down: version negotiation fails
                        last = err
                        continue
                client = self._client
            try:
                return fn(client)
            except docker.errors.NotFound:
                raise
            except Exception as err:  # connection refused or reset, 5xx …: retry once on a new client
                last = err
                with self._lock:
                    if self._client is client:
                        self._client = None
        raise DockerUnavailable(f"Docker API unavailable ({type(last).__name__})") from last

    def ping(self) -> None:
        self._call(lambda c: c.ping())

    def inspect(self, container_id: str) -> ContainerSnapshot | None:
        import docker.errors

        try:
            data = self._call(lambda c: c.inspect_container(container_id))
        except docker.errors.NotFound:
            return None
        return ContainerSnapshot.from_inspect(data)

    def list_containers(self) -> list[str]:
        """Ids of all containers, running or not."""
        rows = self._call(lambda c: c.containers(all=True, quiet=True))
        return [str(row["Id"]) for row in rows]

    def snapshots(self) -> list[ContainerSnapshot]:
        """Inspect every container (those removed meanwhile are skipped)."""
        found = []
        for container_id in self.list_containers():
            snapshot = self.inspect(container_id)
            if snapshot is not None:
                found.append(snapshot)
        return found

    def volumes(self) -> VolumesMeasured:
        """Volume sizes from ``/system/df``, with the labels of the containers using them."""
        return parse_system_df(self._call(system_df))

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):  # closing a broken client
                client.close()


# API 1.52 (Engine 29) added the per-kind ``*DiskUsage`` objects, whose ``Items`` need ``verbose=1``;
# API 1.53 dropped the legacy top-level ``Volumes`` and ``Containers`` lists.
DISK_USAGE_API = (1, 52)


def system_df(client: Any) -> dict[str, Any]:
    """``GET /system/df`` in the daemon's current shape: only volumes and containers, with their items,
    from API 1.52 on; the legacy call (everything, legacy lists) before it."""
    if _api_version(client) < DISK_USAGE_API:
        return dict(client.df())
    params = {"type": ["volume", "container"], "verbose": 1}
    return dict(client._result(client._get(client._url("/system/df"), params=params), True))


def _api_version(client: Any) -> tuple[int, int]:
    try:
        major, minor = str(client.api_version).split(".")[:2]
        return int(major), int(minor)
    except (AttributeError, ValueError):
        return (1, 0)


def parse_system_df(data: dict[str, Any]) -> VolumesMeasured:
    """Both shapes of ``/system/df``: ``VolumesDiskUsage.Items`` / ``ContainersDiskUsage.Items`` (API ≥ 1.52)
    or the legacy ``Volumes`` / ``Containers`` lists; the current one wins when both are present."""
    containers = _items(data, "ContainersDiskUsage", "Containers")
    volumes = _items(data, "VolumesDiskUsage", "Volumes")
    users: dict[str, list[dict[str, str]]] = {}
    for container in containers:
        labels = {str(k): str(v) for k, v in (container.get("Labels") or {}).items()}
        for mount in container.get("Mounts") or []:
            if mount.get("Type") == "volume" and mount.get("Name"):
                users.setdefault(str(mount["Name"]), []).append(labels)
    measured = []
    for volume in volumes:
        usage = volume.get("UsageData") or {}
        measured.append(
            VolumeMeasured(
                name=str(volume.get("Name")),
                size_bytes=int(usage.get("Size", -1)),
                labels={str(k): str(v) for k, v in (volume.get("Labels") or {}).items()},
                container_labels=users.get(str(volume.get("Name")), []),
            )
        )
    return VolumesMeasured(volumes=measured)


def _items(data: dict[str, Any], current: str, legacy: str) -> list[dict[str, Any]]:
    usage = data.get(current)
    if isinstance(usage, dict) and usage.get("Items") is not None:
        return list(usage["Items"])
    return list(data.get(legacy) or [])
