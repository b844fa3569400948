"""Whether a page may go out now: silences, and stacks that are really stopped (suspended or deleted).

Suppression follows the stack's observed ``status``, never its desired state: after a failed suspend
(e.g. a bad Coolify token) the stack is *desired* suspended but still running, and must stay watched.
Kills and stops during a suspend are operator intent anyway (no page).
"""

from __future__ import annotations

from datetime import UTC, datetime

from monitor.directory import STOPPED_STATUSES, StackDirectory
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
            if record is not None and record.status in STOPPED_STATUSES:
                coolify = f" (Coolify: {record.coolify_status})" if record.coolify_status else ""
                return f"stack status is {record.status}{coolify}"
        silence = self.silences.matching(incident.tenant, incident.stack, incident.kind.value, now)
        if silence is not None:
            until = datetime.fromtimestamp(silence.ends_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
            return f"silence {silence.id} ({silence.scope()}) until {until}"
        return None
