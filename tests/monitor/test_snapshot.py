"""Tests for monitor.snapshot: the facts read from docker inspect."""

from __future__ import annotations

from typing import Any

import pytest

from monitor.snapshot import ContainerSnapshot, parse_docker_time
from tests.monitor.fakes import snapshot


def inspect_data(**state: Any) -> dict[str, Any]:
    return {
        "Id": "abc",
        "Name": "/cf-acme-bot",
        "RestartCount": 2,
        "Config": {"Image": "cf/bot:1", "Labels": {"cf.tenant": "acme"}},
        "HostConfig": {"Memory": 16777216, "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3}},
        "State": {
            "Status": "exited",
            "Running": False,
            "OOMKilled": True,
            "ExitCode": 137,
            "StartedAt": "2026-11-25T21:40:03.5Z",
            "FinishedAt": "2026-11-25T21:40:04.015137551Z",
            "Health": {
                "Status": "unhealthy",
                "FailingStreak": 4,
                "Log": [{"ExitCode": 1, "Output": "old"}, {"ExitCode": 1, "Output": "  db down\n"}],
            },
            **state,
        },
    }


def test_inspect_is_reduced_to_the_facts_detectors_use() -> None:
    """Name without slash, OOM flag, exit code, limit, policy and the last health output are kept."""
    snap = ContainerSnapshot.from_inspect(inspect_data())
    assert snap.name == "cf-acme-bot"
    assert (snap.oom_killed, snap.exit_code, snap.memory_limit_bytes) == (True, 137, 16777216)
    assert (snap.restart_policy, snap.restart_max, snap.restart_count) == ("on-failure", 3, 2)
    assert (snap.health_status, snap.health_output, snap.health_failing_streak) == ("unhealthy", "db down", 4)
    assert snap.finished_at_ns == 1795642804015137551
    assert snap.finished_marker == "1795642804015137551"


def test_docker_times_parse_to_nanoseconds_and_zero_time_to_none() -> None:
    """Nanosecond fractions, offsets and Docker's zero time are handled."""
    assert parse_docker_time("0001-01-01T00:00:00Z") is None
    assert parse_docker_time("1970-01-01T00:00:01.5Z") == 1_500_000_000
    assert parse_docker_time("1970-01-01T01:00:01+01:00") == 1_000_000_000
    assert parse_docker_time("garbage") is None


@pytest.mark.parametrize(
    ("policy", "maximum", "count", "exit_code", "expected"),
    [
        ("no", 0, 0, 1, False),
        ("", 0, 0, 1, False),
        ("always", 0, 9, 0, True),
        ("unless-stopped", 0, 9, 1, True),
        ("on-failure", 3, 2, 1, True),
        ("on-failure", 3, 3, 1, False),
        ("on-failure", 0, 50, 1, True),
        ("on-failure", 3, 0, 0, False),
    ],
)
def test_restart_expected_follows_dockers_policy(
    policy: str, maximum: int, count: int, exit_code: int, expected: bool
) -> None:
    """Whether Docker restarts after this exit, per restart policy, retry budget and exit code."""
    snap = snapshot(restart_policy=policy, restart_max=maximum, restart_count=count, exit_code=exit_code)
    assert snap.restart_expected is expected
