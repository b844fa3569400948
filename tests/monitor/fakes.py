"""Small fakes and builders for unit tests (no Docker, no network)."""

from __future__ import annotations

from typing import Any

from monitor.attribution import Attribution
from monitor.events import ContainerEventReceived
from monitor.findings import Finding, Kind, Severity
from monitor.incidents import Incident, Notice, NoticeType
from monitor.messages import NoticeItem, render_item
from monitor.outbox import Outbox
from monitor.snapshot import ContainerSnapshot

ACME_BOT = Attribution(tenant="acme", stack="bot", template="telegram-bot", plan="starter", source="labels")
LABELS = {
    "cf.managed": "true",
    "cf.tenant": "acme",
    "cf.stack": "bot",
    "cf.template": "telegram-bot",
    "cf.plan": "starter",
}
T0 = 1_800_000_000.0


def snapshot(**overrides: Any) -> ContainerSnapshot:
    values: dict[str, Any] = {
        "container_id": "c" * 64,
        "name": "cf-acme-bot",
        "image": "cf/bot:1",
        "labels": dict(LABELS),
        "status": "exited",
        "running": False,
        "exit_code": 0,
        "memory_limit_bytes": 256 * 1024 * 1024,
        "finished_at_ns": int(T0 * 1e9),
    }
    values.update(overrides)
    return ContainerSnapshot(**values)


def event(
    action: str, at: float = T0, container_id: str = "c" * 64, **attributes: str
) -> ContainerEventReceived:
    attrs = {"name": "cf-acme-bot", "image": "cf/bot:1", **LABELS, **attributes}
    return ContainerEventReceived(
        time_nano=int(at * 1e9), action=action, container_id=container_id, attributes=attrs
    )


def finding(kind: Kind = Kind.OOM_KILLED, **overrides: Any) -> Finding:
    values: dict[str, Any] = {
        "kind": kind,
        "severity": Severity.CRITICAL,
        "attribution": ACME_BOT,
        "subject": "cf-acme-bot",
        "container_id": "c" * 64,
        "detail": "something happened",
        "evidence": {"exit_code": 137},
    }
    values.update(overrides)
    return Finding(**values)


BASE = "https://git.example/agents/blob/main/"


def incident(**overrides: Any) -> Incident:
    values: dict[str, Any] = {
        "id": "abc123",
        "fingerprint": "f",
        "kind": "oom-killed",
        "severity": "critical",
        "state": "firing",
        "host": "h1",
        "tenant": "acme",
        "stack": "bot",
        "template": "telegram-bot",
        "plan": "starter",
        "subject": "cf-acme-bot",
        "detail": "Container cf-acme-bot was killed by the kernel OOM killer.",
        "evidence": {"memory_limit": "256 MiB", "exit_code": 137, "empty": None},
        "opened_at": T0,
        "last_seen_at": T0,
    }
    values.update(overrides)
    return Incident(**values)


def sent_titles(outbox: Outbox) -> list[str]:
    """Titles of the messages ready in the outbox, in order, each then taken out as delivered."""
    titles = []
    while (row := outbox.next_due(T0 + 1e6)) is not None:
        titles.append(row.message.title)
        outbox.delivered(row.id)
    return titles


def item(notice: NoticeType = "firing", **overrides: Any) -> NoticeItem:
    return render_item(Notice(type=notice, incident=incident(**overrides)), runbook_base=BASE, now=T0 + 720)


class FakeInspector:
    """Answers inspect calls from ``states``; ``None`` means the container is gone."""

    def __init__(self, states: dict[str, ContainerSnapshot | None] | None = None) -> None:
        self.states: dict[str, ContainerSnapshot | None] = dict(states or {})
        self.inspected: list[str] = []
        self.down = False

    def _check(self) -> None:
        from monitor.inspector import DockerUnavailable

        if self.down:
            raise DockerUnavailable("Docker API unavailable (test)")

    def inspect(self, container_id: str) -> ContainerSnapshot | None:
        self._check()
        self.inspected.append(container_id)
        return self.states.get(container_id)

    def snapshots(self) -> list[ContainerSnapshot]:
        self._check()
        return [s for s in self.states.values() if s is not None]
