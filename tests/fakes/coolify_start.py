"""What a queued start or restart does (``StartService``; reference §5.5, §5.6 and §15).

1. ``parse()``. If the parser throws, the job fails before it records any activity: nothing is
   stopped or started and the status does not change (a start stays ``exited``).
2. ``saveComposeConfigs``: the ``.env`` is written (:mod:`tests.fakes.coolify_dotenv`).
3. ``docker compose up``: Compose reads ``.env`` and interpolates the deployed compose
   (:mod:`tests.fakes.compose_env`). If it refuses, or a failure was injected with
   :meth:`~tests.fakes.coolify.FakeCoolify.fail_compose_up`, the activity ends in error and the status
   shows ``starting:unhealthy``, then ``exited``; no API endpoint shows why. Otherwise the containers
   get what Compose computed and the status settles on the service's ``start_outcome``.
"""

from __future__ import annotations

from typing import Any

from tests.fakes.compose_env import (
    ComposeUpError,
    interpolate,
    parse_dotenv,
    service_arguments,
    service_environment,
)
from tests.fakes.coolify_dotenv import render_dotenv
from tests.fakes.coolify_envparse import ParserError
from tests.fakes.coolify_parse import parse
from tests.fakes.coolify_state import EXITED, STARTING, Activity, Container, CoolifyState, Service


def run_start(state: CoolifyState, service: Service) -> None:
    """The start job, run at once (the fake has no queue)."""
    try:
        parse(state, service)
    except ParserError as err:
        service.failed_jobs.append(f"StartService: {err}")
        return
    assert service.deployed is not None
    service.dotenv = render_dotenv(service, list(service.deployed["services"]), state.shared_variables)
    try:
        injected = service.compose_up_failures or state.compose_up_failures
        if injected:
            raise ComposeUpError(injected.pop(0))
        containers = compose_up(service.deployed, service.dotenv)
    except ComposeUpError as err:
        service.activities.append(Activity("error", str(err)))
        service.containers = {}
        state.queue(service, immediate=STARTING, target=EXITED)
        return
    service.containers = containers
    service.activities.append(Activity("finished", "Starting service. Service started."))
    state.queue(service, immediate=STARTING, target=service.start_outcome)


def compose_up(deployed: dict[str, Any], dotenv: str) -> dict[str, Container]:
    """The containers ``docker compose up`` would create; ComposeUpError where Compose refuses."""
    variables = parse_dotenv(dotenv)
    containers: dict[str, Container] = {}
    for name, spec in deployed["services"].items():
        _interpolate_all(spec, variables, f"services.{name}")
        containers[str(name)] = Container(
            environment=service_environment(spec, variables, str(name)),
            command=_arguments(spec, variables, str(name), "command"),
            entrypoint=_arguments(spec, variables, str(name), "entrypoint"),
        )
    return containers


def _arguments(spec: dict[str, Any], variables: dict[str, str], name: str, key: str) -> list[str] | None:
    if not isinstance(spec.get(key), list):
        return None
    return service_arguments(spec, variables, name, key)


def _interpolate_all(value: Any, variables: dict[str, str], where: str) -> None:
    """Compose interpolates every string of the file: a malformed ``${`` anywhere stops ``up``."""
    if isinstance(value, str):
        interpolate(value, variables, where)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key != "environment":  # resolved with its own rules in service_environment
                _interpolate_all(item, variables, f"{where}.{key}")
    elif isinstance(value, list):
        for item in value:
            _interpolate_all(item, variables, where)
