"""Host filesystem usage with statvfs, as ``df`` computes it (space available to non-root)."""

from __future__ import annotations

import os
from pathlib import Path

from monitor.events import DiskUsageMeasured


def measure(path: Path) -> DiskUsageMeasured:
    """Raises OSError when ``path`` does not exist or cannot be read."""
    stats = os.statvfs(path)
    total = stats.f_blocks * stats.f_frsize
    used = (stats.f_blocks - stats.f_bfree) * stats.f_frsize
    free = stats.f_bavail * stats.f_frsize
    return DiskUsageMeasured(path=str(path), total_bytes=total, used_bytes=used, free_bytes=free)
