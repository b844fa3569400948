"""Tests for monitor.detectors.disk: thresholds with hysteresis."""

from __future__ import annotations

import pytest

from monitor.detectors.disk import disk_pressure
from monitor.events import DiskUsageMeasured
from monitor.findings import Severity


def at(percent: float) -> object:
    measured = DiskUsageMeasured(
        path="/data", total_bytes=1000, used_bytes=int(percent * 10), free_bytes=int((100 - percent) * 10)
    )
    return disk_pressure(measured, warning=80, critical=90, clear_margin=5, at=0.0)


@pytest.mark.parametrize(
    ("percent", "severity"), [(80, Severity.WARNING), (89.9, Severity.WARNING), (90, Severity.CRITICAL)]
)
def test_warning_and_critical_levels(percent: float, severity: Severity) -> None:
    """80 % warns, 90 % is critical."""
    found = at(percent)
    assert found is not None and found.severity is severity and found.firing  # type: ignore[attr-defined]


def test_is_over_only_below_the_margin() -> None:
    """Between 75 % and 80 % nothing changes (a firing alert stays); below 75 % the condition is over
    (which ends an incident if one fires, and changes nothing otherwise)."""
    assert at(77) is None
    over = at(74)
    assert over is not None and not over.firing  # type: ignore[attr-defined]
