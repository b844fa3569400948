"""What the event functions react to: facts, named in the past tense, carrying ids only.

An event is a hint that something may need doing, never the data to act on: each handler re-reads
the records it names (level-triggered), so a duplicate, a replay or an event that arrives late does no
harm. Sources: PocketBase realtime and its catch-up sweep (``sources/realtime.py``), the Coolify webhook
receiver (``sources/webhooks.py``), the status poller and the reconciler (``sources/poller.py``,
``sources/reconciler.py``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

Source = Literal["realtime", "catchup", "webhook", "poller", "reconciler", "api"]


class Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    source: Source

    @property
    def key(self) -> str:
        """Events with the same key are handled one at a time; a pending one absorbs later ones of the
        same type (they are hints of the same thing)."""
        raise NotImplementedError


class TenantRecordChanged(Event):
    tenant_id: str

    @property
    def key(self) -> str:
        return f"tenant:{self.tenant_id}"


class StackRecordChanged(Event):
    stack_id: str

    @property
    def key(self) -> str:
        return f"stack:{self.stack_id}"


class StackDriftFound(Event):
    """The reconciler saw Coolify disagree with a stack's desired state (``kind``: service_missing,
    stopped, running_while_suspended)."""

    stack_id: str
    kind: str

    @property
    def key(self) -> str:
        return f"stack:{self.stack_id}"


class SecretInputReceived(Event):
    input_id: str

    @property
    def key(self) -> str:
        return f"secret:{self.input_id}"


class CoolifyTaskFinished(Event):
    """``task_success`` / ``task_failed`` of a scheduled task on a service (the webhook body kept)."""

    receipt: str  # the webhook receipt key: the body's hash
    succeeded: bool
    service_uuid: str
    task_name: str
    output: str = ""
    url: str = ""

    @property
    def key(self) -> str:
        return f"webhook:{self.receipt}"


class CoolifyServerChanged(Event):
    """``server_unreachable`` / ``server_reachable`` / ``high_disk_usage`` for one Coolify server."""

    receipt: str
    kind: Literal["unreachable", "reachable", "disk_usage"]
    server_name: str
    server_uuid: str
    detail: str = ""
    url: str = ""

    @property
    def key(self) -> str:
        return f"webhook:{self.receipt}"


AnyEvent = (
    TenantRecordChanged
    | StackRecordChanged
    | StackDriftFound
    | SecretInputReceived
    | CoolifyTaskFinished
    | CoolifyServerChanged
)
