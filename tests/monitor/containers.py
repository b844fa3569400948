"""Starting labelled test containers the way our templates label tenant containers."""

from __future__ import annotations

import uuid
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


def oom_kill(api: Any, tenant: str, *, attempts: int = 5) -> tuple[str, str]:
    """Run a container past its 16 MiB limit until Docker records the OOM kill; returns its name and
    stack (each attempt has a stack of its own, so a test looks only at the kill Docker recorded).

    Under load the kernel's OOM notification sometimes never reaches the daemon: no ``oom`` event, and the
    container exits 137 with ``OOMKilled`` false (seen here while another process churned containers).
    That is the engine's miss, not the monitor's (which then rightly pages a crash with exit 137); such an
    attempt is removed and another one made.
    """
    for _ in range(attempts):
        name, stack = f"cft-oom-{uuid.uuid4().hex[:6]}", f"oom-{uuid.uuid4().hex[:6]}"
        container = run(
            api,
            name,
            ["tail", "/dev/zero"],
            labels=tenant_labels(tenant, stack),
            mem_limit="16m",
            memswap_limit="16m",
        )
        if wait_exited(api, container)["OOMKilled"]:
            return name, stack
        api.remove_container(container, force=True)
    raise AssertionError(f"Docker recorded none of {attempts} OOM kills as such")
