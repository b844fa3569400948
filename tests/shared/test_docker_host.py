"""Disk usage per volume from either shape of the engine's `GET /system/df` answer."""

from __future__ import annotations

from shared.docker_host import volume_sizes


def test_the_current_shape_is_read() -> None:
    """API 1.52+: VolumesDiskUsage.Items[] with UsageData."""
    df = {
        "VolumesDiskUsage": {
            "TotalCount": 2,
            "Items": [
                {"Name": "abc_data", "UsageData": {"Size": 4096, "RefCount": 1}},
                {"Name": "abc_cache", "UsageData": {"Size": -1, "RefCount": 0}},
            ],
        }
    }
    assert volume_sizes(df) == {"abc_data": 4096, "abc_cache": None}


def test_the_legacy_shape_is_read() -> None:
    """Before API 1.52: Volumes[] with UsageData; a missing UsageData is unknown, not zero."""
    df = {"Volumes": [{"Name": "abc_data", "UsageData": {"Size": 10}}, {"Name": "old"}], "LayersSize": 1}
    assert volume_sizes(df) == {"abc_data": 10, "old": None}


def test_an_answer_without_volumes_is_empty() -> None:
    """No volumes at all (either shape) gives nothing, not an error."""
    assert volume_sizes({"Volumes": None}) == {} == volume_sizes({"VolumesDiskUsage": {"TotalCount": 0}})
