"""The Coolify host's Docker engine, for the operations that need it (volumes, backups): a low-level
docker-py client on an explicit URL (never a CLI context) and the parsing of its disk-usage answer."""

from __future__ import annotations

from typing import Any

from shared.errors import UnavailableError


def docker_client(url: str, timeout: float = 60.0) -> Any:
    """A docker-py ``APIClient`` for ``url``; UnavailableError with advice when the engine is not there."""
    import docker
    import docker.errors

    try:
        client = docker.APIClient(base_url=url, version="auto", timeout=timeout)
    except docker.errors.DockerException as err:
        raise UnavailableError(
            f"the Docker engine at {url} is not reachable ({err})",
            advice="run this on the Coolify host, or set CFA_DOCKER_URL to its Docker API",
        ) from err
    return client


def volume_sizes(df: dict[str, Any]) -> dict[str, int | None]:
    """Bytes used per volume from ``GET /system/df``, in either shape the engine answers with.

    API 1.52 and later: ``VolumesDiskUsage.Items[]``; earlier: ``Volumes[]``. Each item is a Volume
    whose ``UsageData.Size`` is -1 (or missing) when the engine did not compute it: None then.
    """
    current = df.get("VolumesDiskUsage")
    items = (current or {}).get("Items") if isinstance(current, dict) else None
    if items is None:
        items = df.get("Volumes") or []
    sizes: dict[str, int | None] = {}
    for item in items:
        size = (item.get("UsageData") or {}).get("Size")
        sizes[str(item.get("Name"))] = int(size) if isinstance(size, int) and size >= 0 else None
    return sizes
