"""The real Docker engine for tests outside the monitor (skipped without one, required when CI is set).

Volumes and containers a test makes carry the label ``cf.test.functions=<run id>`` and are removed
afterwards; the test image is the busybox one ``scripts/dockerd-up`` imports.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

IMAGE = os.environ.get("CFA_TEST_IMAGE", "cf/busybox:local")
LABEL = "cf.test.functions"


def docker_url() -> str:
    return os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")


class DockerEngine:
    """A docker-py APIClient plus this test's label, for making and cleaning up volumes."""

    def __init__(self, api: Any) -> None:
        self.api = api
        self.run_id = uuid.uuid4().hex[:10]
        self.url = docker_url()
        self.image = IMAGE

    @property
    def labels(self) -> dict[str, str]:
        return {LABEL: self.run_id}

    def volume(self, name: str, labels: dict[str, str] | None = None) -> str:
        self.api.create_volume(name, labels={**self.labels, **(labels or {})})
        return name

    def sh(self, script: str, binds: dict[str, dict[str, str]], *, detach: bool = False) -> tuple[int, str]:
        """Run ``sh -c script`` in the test image with ``binds`` and no network; (exit code, output)."""
        container = self.api.create_container(
            self.image,
            command=["sh", "-c", script],
            labels=self.labels,
            network_disabled=True,
            host_config=self.api.create_host_config(binds=binds),
        )
        self.api.start(container)
        if detach:
            return 0, str(container["Id"])
        code = int(self.api.wait(container, timeout=120)["StatusCode"])
        output = self.api.logs(container).decode(errors="replace")
        self.api.remove_container(container, force=True)
        return code, output

    def cleanup(self) -> None:
        for container in self.api.containers(all=True, filters={"label": f"{LABEL}={self.run_id}"}):
            self.api.remove_container(container["Id"], force=True, v=True)
        for volume in (self.api.volumes(filters={"label": f"{LABEL}={self.run_id}"}) or {}).get(
            "Volumes"
        ) or []:
            self.api.remove_volume(volume["Name"], force=True)


@pytest.fixture
def docker_engine() -> Iterator[DockerEngine]:
    """The engine, with this test's objects removed afterwards."""
    try:
        import docker

        api = docker.APIClient(base_url=docker_url(), version="auto", timeout=60)
        api.ping()
        api.inspect_image(IMAGE)
    except Exception as err:
        reason = f"{type(err).__name__}: {err}"
        if os.environ.get("CI"):
            pytest.fail(f"Docker is required when CI is set: {reason}")
        pytest.skip(f"no usable Docker engine: {reason}")
    engine = DockerEngine(api)
    try:
        yield engine
    finally:
        engine.cleanup()
        api.close()
