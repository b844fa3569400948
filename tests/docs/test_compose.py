"""compose.yml (the platform itself) is a valid Compose file and keeps its promises."""

from __future__ import annotations

from typing import Any

import yaml

from shared.compose_loader import ComposeLoader
from shared.compose_schema import schema_errors
from shared.settings import REPO_ROOT, Settings

TEXT = (REPO_ROOT / "compose.yml").read_text()
COMPOSE: dict[str, Any] = yaml.safe_load(TEXT)


def test_valid_against_the_compose_schema() -> None:
    """The Compose JSON schema accepts it."""
    assert schema_errors(COMPOSE) == []


def test_compose_v2_loads_it(compose_loader: ComposeLoader) -> None:
    """`docker compose config -q` (Compose v2, as on a current host) accepts it."""
    assert compose_loader.problems(TEXT) == []


def test_every_service_has_limits() -> None:
    """CPU, memory and pids limits on every long-running service, at service level (no deploy block)."""
    for name, service in COMPOSE["services"].items():
        assert "deploy" not in service, name
        if service.get("restart") == "no" or service.get("profiles"):
            continue  # one-shot and on-demand containers
        assert service["cpus"] and service["mem_limit"] and service["pids_limit"], name


def test_every_service_is_hardened() -> None:
    """No capabilities, no privilege escalation, read-only root, rotated logs, no published ports."""
    for name, service in COMPOSE["services"].items():
        assert service["cap_drop"] == ["ALL"], name
        assert service["security_opt"] == ["no-new-privileges:true"], name
        assert service["read_only"] is True, name
        assert "ports" not in service, name
        assert service["logging"]["options"]["max-size"], name


def test_only_the_proxy_sees_the_docker_socket_and_it_refuses_writes() -> None:
    """The monitor reaches Docker through the proxy, which allows reads only."""
    services = COMPOSE["services"]
    with_socket = [
        n for n, s in services.items() if any("docker.sock" in str(v) for v in s.get("volumes", []))
    ]
    assert with_socket == ["docker-socket-proxy"]
    assert services["docker-socket-proxy"]["environment"]["POST"] == "0"
    assert services["monitor"]["environment"]["CFA_MONITOR_DOCKER_URL"] == "tcp://docker-socket-proxy:2375"
    assert services["monitor"]["command"] == ["python", "-m", "monitor", "run"]


def test_monitor_healthcheck_uses_the_monitor_port() -> None:
    """The healthcheck probes the port the monitor serves /healthz on by default."""
    test = " ".join(COMPOSE["services"]["monitor"]["healthcheck"]["test"])
    assert f":{Settings().monitor_http_port}/healthz" in test
