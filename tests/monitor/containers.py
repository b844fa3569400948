"""Starting labelled test containers the way our templates label tenant containers."""

from __future__ import annotations

from typing import Any

from tests.monitor.support import IMAGE, RUN_ID, TEST_LABEL


def tenant_labels(tenant: str, stack: str, **extra: str) -> dict[str, str]:
    return {
        "cf.managed": "true",
        "cf.tenant": tenant,
        "cf.stack": stack,
        "cf.template": "telegram-bot",
        "cf.plan": "starter",
        TEST_LABEL: RUN_ID,
        **extra,
    }


def run(
    api: Any,
    name: str,
    command: list[str],
    *,
    labels: dict[str, str],
    healthcheck: dict[str, Any] | None = None,
    start: bool = True,
    **host_config: Any,
) -> str:
    """Create (and start) a container without network; returns its id."""
    config = api.create_host_config(network_mode="none", **host_config)
    container = api.create_container(
        IMAGE, command, name=name, labels=labels, host_config=config, healthcheck=healthcheck
    )
    container_id = str(container["Id"])
    if start:
        api.start(container_id)
    return container_id


def wait_exited(api: Any, container_id: str) -> dict[str, Any]:
    api.wait(container_id, timeout=120)
    state: dict[str, Any] = api.inspect_container(container_id)["State"]
    return state


def run_labels() -> dict[str, str]:
    """The label that marks an object as this test run's (and only its cleanup removes it)."""
    return {TEST_LABEL: RUN_ID}
