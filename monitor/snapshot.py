"""A container's real state, read with ``GET /containers/{id}/json`` (inspect).

Exit codes, OOM kills and health output come from here, never from event attributes.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from monitor.values import Value

_TIMESTAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$")
_HEALTH_OUTPUT_LIMIT = 600


def parse_docker_time(value: str | None) -> int | None:
    """Docker's RFC 3339 timestamps with nanoseconds → Unix nanoseconds; the zero time → None."""
    if not value or value.startswith("0001-01-01"):
        return None
    match = _TIMESTAMP.match(value)
    if match is None:
        return None
    whole, fraction, zone = match.groups()
    offset = "+00:00" if zone == "Z" else zone
    seconds = datetime.fromisoformat(whole + offset).astimezone(UTC).timestamp()
    nanos = int((fraction or "0").ljust(9, "0"))
    return int(seconds) * 1_000_000_000 + nanos


class ContainerSnapshot(Value):
    """The facts of one inspect call that the detectors use."""

    container_id: str
    name: str
    image: str = ""
    labels: dict[str, str]
    status: str
    running: bool
    restarting: bool = False
    oom_killed: bool = False
    exit_code: int = 0
    started_at_ns: int | None = None
    finished_at_ns: int | None = None
    restart_count: int = 0
    restart_policy: str = ""
    restart_max: int = 0
    stop_signal: str | None = None
    memory_limit_bytes: int = 0
    health_status: str | None = None
    health_output: str | None = None
    health_exit_code: int | None = None
    health_failing_streak: int = 0

    @classmethod
    def from_inspect(cls, data: dict[str, Any]) -> ContainerSnapshot:
        state = data.get("State") or {}
        config = data.get("Config") or {}
        host = data.get("HostConfig") or {}
        policy = host.get("RestartPolicy") or {}
        health = state.get("Health") or {}
        log = health.get("Log") or []
        last = log[-1] if log else {}
        output = str(last.get("Output") or "").strip()
        return cls(
            container_id=str(data.get("Id", "")),
            name=str(data.get("Name", "")).lstrip("/"),
            image=str(config.get("Image") or ""),
            labels={str(k): str(v) for k, v in (config.get("Labels") or {}).items()},
            status=str(state.get("Status", "")),
            running=bool(state.get("Running")),
            restarting=bool(state.get("Restarting")),
            oom_killed=bool(state.get("OOMKilled")),
            exit_code=int(state.get("ExitCode") or 0),
            started_at_ns=parse_docker_time(state.get("StartedAt")),
            finished_at_ns=parse_docker_time(state.get("FinishedAt")),
            restart_count=int(data.get("RestartCount") or 0),
            restart_policy=str(policy.get("Name") or ""),
            restart_max=int(policy.get("MaximumRetryCount") or 0),
            stop_signal=str(config.get("StopSignal") or "") or None,
            memory_limit_bytes=int(host.get("Memory") or 0),
            health_status=health.get("Status") or None,
            health_output=output[-_HEALTH_OUTPUT_LIMIT:] if output else None,
            health_exit_code=last.get("ExitCode") if last else None,
            health_failing_streak=int(health.get("FailingStreak") or 0),
        )

    @property
    def restart_expected(self) -> bool:
        """Whether Docker's restart policy will start the container again after its last exit."""
        if self.restarting:
            return True
        if self.restart_policy in ("always", "unless-stopped"):
            return True
        if self.restart_policy == "on-failure":
            return self.exit_code != 0 and (self.restart_max == 0 or self.restart_count < self.restart_max)
        return False

    @property
    def finished_marker(self) -> str | None:
        """Identifies one particular death, so a re-check never reports the same death twice."""
        return None if self.finished_at_ns is None else str(self.finished_at_ns)
