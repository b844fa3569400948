"""Tests for monitor.detectors.disk: thresholds with hysteresis."""

from __future__ import annotations

import pytest

from monitor.detectors.disk import disk_pressure
from monitor.events import DiskUsageMeasured
from monitor.findings import Severity


def at(percent: float, *, firing: bool = False) -> object:
    measured = DiskUsageMeasured(
        path="/data", total_bytes=1000, used_bytes=int(percent * 10), free_bytes=int((100 - percent) * 10)
    )
    return disk_pressure(measured, firing=firing, warning=80, critical=90, clear_margin=5, at=0.0)


@pytest.mark.parametrize(
    ("percent", "severity"), [(80, Severity.WARNING), (89.9, Severity.WARNING), (90, Severity.CRITICAL)]
)
def test_warning_and_critical_levels(percent: float, severity: Severity) -> None:
    """80 % warns, 90 % is critical."""
    found = at(percent)
    assert found is not None and found.severity is severity and found.firing  # type: ignore[attr-defined]


def test_resolves_only_below_the_margin() -> None:
    """Between 75 % and 80 % a firing alert stays; below 75 % it resolves; a quiet disk says nothing."""
    assert at(77, firing=True) is None
    resolved = at(74, firing=True)
    assert resolved is not None and not resolved.firing  # type: ignore[attr-defined]
    assert at(50, firing=False) is None
