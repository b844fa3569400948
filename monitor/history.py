"""What the monitor remembers per container between events (in memory; a re-check rebuilds it).

Bounded: a container's record is dropped when it is destroyed, and death times older than the
longest window are pruned.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from monitor.snapshot import ContainerSnapshot


@dataclass
class ContainerHistory:
    container_id: str
    name: str
    labels: dict[str, str] = field(default_factory=dict)
    running: bool | None = None
    kill_intent_at: float | None = None
    pending_oom_at: float | None = None
    pending_oom_nano: int | None = None
    deaths: deque[float] = field(default_factory=lambda: deque(maxlen=256))
    oom_kills: deque[float] = field(default_factory=lambda: deque(maxlen=256))
    snapshot: ContainerSnapshot | None = None
    # Deaths that finished at or before this time were judged (by their die event or a re-check).
    judged_until_ns: int | None = None

    def remember(self, snapshot: ContainerSnapshot) -> None:
        self.snapshot = snapshot
        self.name = snapshot.name or self.name
        self.labels = snapshot.labels
        self.running = snapshot.running or snapshot.restarting


class HistoryBook:
    """Per-container histories keyed by container id."""

    def __init__(self) -> None:
        self._by_id: dict[str, ContainerHistory] = {}

    def get(self, container_id: str) -> ContainerHistory | None:
        return self._by_id.get(container_id)

    def touch(self, container_id: str, name: str) -> ContainerHistory:
        """The container's history, created on first use."""
        history = self._by_id.get(container_id)
        if history is None:
            history = ContainerHistory(container_id=container_id, name=name)
            self._by_id[container_id] = history
        return history

    def forget(self, container_id: str) -> None:
        self._by_id.pop(container_id, None)

    def all(self) -> list[ContainerHistory]:
        return list(self._by_id.values())

    def prune(self, now: float, keep_seconds: float) -> None:
        """Drop death times older than ``keep_seconds``."""
        for history in self._by_id.values():
            for times in (history.deaths, history.oom_kills):
                while times and now - times[0] > keep_seconds:
                    times.popleft()

    def __len__(self) -> int:
        return len(self._by_id)
