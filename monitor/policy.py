"""Whether a page may go out now: silences, and stacks an operator is suspending or deleting."""

from __future__ import annotations

from datetime import UTC, datetime

from monitor.directory import SUPPRESSED_STATES, StackDirectory
from monitor.incidents import Incident
from monitor.silences import SilenceStore


class Policy:
    def __init__(self, silences: SilenceStore, directory: StackDirectory) -> None:
        self.silences = silences
        self.directory = directory

    def suppression(self, incident: Incident, now: float) -> str | None:
        """Why this incident must not page now, or None when it may."""
        if incident.tenant is None:
            return None
        if incident.stack is not None:
            record = self.directory.get(incident.tenant, incident.stack)
            if record is not None and record.desired_state in SUPPRESSED_STATES:
                return f"stack desired state is {record.desired_state}"
        silence = self.silences.matching(incident.tenant, incident.stack, incident.kind.value, now)
        if silence is not None:
            until = datetime.fromtimestamp(silence.ends_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
            return f"silence {silence.id} ({silence.scope()}) until {until}"
        return None
