"""Tests for monitor.detectors.volume: per-stack volume usage against the plan's budget."""

from __future__ import annotations

from collections.abc import Mapping

from monitor.attribution import Attribution, attribute
from monitor.detectors.volume import StackVolumes, group_by_stack, volume_quota
from monitor.directory import StaticDirectory
from monitor.events import VolumeMeasured, VolumesMeasured
from monitor.findings import Severity
from tests.monitor.fakes import ACME_BOT, LABELS


def attribute_static(labels: Mapping[str, str]) -> Attribution:
    return attribute(labels, StaticDirectory())


def test_volumes_are_summed_per_stack_by_their_own_or_their_users_labels() -> None:
    """Volumes placed by their own labels or by a container using them add up; unplaced ones are skipped."""
    measured = VolumesMeasured(
        volumes=[
            VolumeMeasured(name="data", size_bytes=100, labels=dict(LABELS), container_labels=[]),
            VolumeMeasured(name="cache", size_bytes=50, labels={}, container_labels=[{}, dict(LABELS)]),
            VolumeMeasured(name="orphan", size_bytes=999, labels={}, container_labels=[]),
            VolumeMeasured(name="nfs", size_bytes=-1, labels=dict(LABELS), container_labels=[]),
        ]
    )
    [stack] = group_by_stack(measured, attribute_static)
    assert (stack.attribution.tenant, stack.attribution.stack) == ("acme", "bot")
    assert (stack.volumes, stack.used_bytes) == (["cache", "data"], 150)


def quota(used: int, *, budget: int | None = 1000) -> object:
    usage = StackVolumes(attribution=ACME_BOT, volumes=["data"], used_bytes=used)
    return volume_quota(usage, budget_bytes=budget, warning=90, critical=100, clear_margin=5, at=0.0)


def test_budget_levels_and_resolution() -> None:
    """90 % of the budget warns, 100 % is critical, below 85 % it resolves; no budget, no check."""
    assert quota(900).severity is Severity.WARNING  # type: ignore[attr-defined]
    assert quota(1000).severity is Severity.CRITICAL  # type: ignore[attr-defined]
    assert quota(870) is None
    assert not quota(800).firing  # type: ignore[attr-defined]
    assert quota(5000, budget=None) is None
