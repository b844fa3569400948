"""Incidents: one per fingerprint, firing → resolved, with dedup, flap suppression and repeats.

:class:`IncidentBook` turns findings into :class:`Notice` objects (what deserves a message); it never
sends anything itself. Rules:

- a finding for a firing incident only updates it (dedup); a higher severity is an escalation;
- a finding whose ``marker`` the incident already carries is an occurrence seen before (a replayed
  event, a re-check after a restart) and changes nothing;
- a resolve is *held* for ``resolve_hold`` seconds; firing again meanwhile cancels it silently (flaps);
- an incident firing ``repeat_interval`` after its last page is paged again;
- time ends what has no "recovered" event: an OOM, crash or crash-loop incident once its container has
  run ``recovery`` seconds without another occurrence, a gap once the stream has been up that long;
- an incident whose container or volumes no longer exist ends at once and quietly (no message).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from typing import Literal

from pydantic import Field

from monitor.attribution import Attribution
from monitor.findings import RECOVERY_KINDS, Evidence, Finding, Kind, Severity, fingerprint
from monitor.store import Database
from monitor.units import human_duration
from monitor.values import Value
from shared.logging import get_logger

log = get_logger()

State = Literal["firing", "resolved"]
NoticeType = Literal["firing", "repeat", "escalated", "resolved"]


class Incident(Value):
    id: str
    fingerprint: str
    kind: Kind
    severity: Severity
    state: State
    host: str
    tenant: str | None = None
    stack: str | None = None
    template: str | None = None
    plan: str | None = None
    subject: str
    container_id: str | None = None
    detail: str
    evidence: Evidence = Field(default_factory=dict)
    marker: str | None = None
    occurrences: int = 1
    opened_at: float
    last_seen_at: float
    resolved_at: float | None = None
    resolve_pending_since: float | None = None
    resolve_reason: str | None = None
    notified_at: float | None = None
    notifications: int = 0
    suppressed: str | None = None
    revision: int = 0
    mirrored_revision: int = 0

    @property
    def attribution(self) -> Attribution:
        source: Literal["labels", "none"] = "labels" if self.tenant else "none"
        return Attribution(
            tenant=self.tenant, stack=self.stack, template=self.template, plan=self.plan, source=source
        )


class Notice(Value):
    """Something about an incident that may deserve a message (policy and grouping decide)."""

    type: NoticeType
    incident: Incident


_COLUMNS = tuple(Incident.model_fields)


class IncidentStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def _load(self, row: object) -> Incident:
        data = dict(row)  # type: ignore[call-overload]
        data["evidence"] = json.loads(data["evidence"])
        return Incident.model_validate(data)

    def get(self, fp: str) -> Incident | None:
        row = self.db.conn.execute(
            "SELECT * FROM incidents WHERE fingerprint = ? ORDER BY opened_at DESC, rowid DESC LIMIT 1", (fp,)
        ).fetchone()
        return None if row is None else self._load(row)

    def save(self, incident: Incident) -> Incident:
        """Insert or update this incident (by id); each save is a new revision (to mirror)."""
        incident = incident.model_copy(update={"revision": incident.revision + 1})
        values = incident.model_dump()
        values["evidence"] = json.dumps(values["evidence"], sort_keys=True)
        values["kind"], values["severity"] = incident.kind.value, incident.severity.value
        placeholders = ", ".join("?" for _ in _COLUMNS)
        self.db.conn.execute(
            f"INSERT OR REPLACE INTO incidents ({', '.join(_COLUMNS)}) VALUES ({placeholders})",  # noqa: S608
            tuple(values[c] for c in _COLUMNS),
        )
        return incident

    def mark_paged(self, incident: Incident, now: float) -> Incident:
        return self.save(
            incident.model_copy(
                update={"notified_at": now, "notifications": incident.notifications + 1, "suppressed": None}
            )
        )

    def mark_suppressed(self, incident: Incident, reason: str) -> Incident:
        return self.save(incident.model_copy(update={"suppressed": reason}))

    def mark_mirrored(self, incident: Incident) -> None:
        """Record that ``incident`` (this revision) is mirrored; a newer revision stays pending."""
        self.db.conn.execute(
            "UPDATE incidents SET mirrored_revision = ? WHERE id = ? AND mirrored_revision < ?",
            (incident.revision, incident.id, incident.revision),
        )

    def firing(self) -> list[Incident]:
        rows = self.db.conn.execute("SELECT * FROM incidents WHERE state = 'firing' ORDER BY opened_at")
        return [self._load(r) for r in rows]

    def unmirrored(self, limit: int = 100) -> list[Incident]:
        rows = self.db.conn.execute(
            "SELECT * FROM incidents WHERE revision > mirrored_revision ORDER BY last_seen_at LIMIT ?",
            (limit,),
        )
        return [self._load(r) for r in rows]

    def all(self, *, include_resolved: bool = True) -> list[Incident]:
        sql = "SELECT * FROM incidents"
        if not include_resolved:
            sql += " WHERE state = 'firing'"
        return [self._load(r) for r in self.db.conn.execute(sql + " ORDER BY opened_at DESC")]

    def prune(self, before: float, *, mirrored_only: bool) -> int:
        """Forget resolved incidents that ended before ``before`` (only mirrored ones when mirroring)."""
        sql = "DELETE FROM incidents WHERE state = 'resolved' AND resolved_at < ?"
        if mirrored_only:
            sql += " AND revision <= mirrored_revision"
        return self.db.conn.execute(sql, (before,)).rowcount

    def counts(self) -> dict[tuple[str, str], int]:
        rows = self.db.conn.execute("SELECT kind, state, COUNT(*) AS n FROM incidents GROUP BY kind, state")
        return {(str(r["kind"]), str(r["state"])): int(r["n"]) for r in rows}


class IncidentBook:
    """Applies findings to incidents; returns the notices they cause."""

    def __init__(
        self,
        store: IncidentStore,
        *,
        host: str,
        resolve_hold: float,
        repeat_interval: float,
        recovery: float = 600.0,
        new_id: Callable[[], str] = lambda: secrets.token_hex(6),
    ) -> None:
        self.store = store
        self.host = host
        self.resolve_hold = resolve_hold
        self.repeat_interval = repeat_interval
        self.recovery = recovery
        self._new_id = new_id

    def fingerprint_of(self, finding: Finding) -> str:
        return fingerprint(self.host, finding.attribution, finding.subject, finding.kind)

    def apply_all(self, findings: list[Finding], now: float) -> list[Notice]:
        return [notice for finding in findings for notice in self.apply(finding, now)]

    def apply(self, finding: Finding, now: float) -> list[Notice]:
        fp = self.fingerprint_of(finding)
        current = self.store.get(fp)
        if finding.firing:
            return self._fire(fp, current, finding, now)
        if current is None or current.state != "firing":
            return []
        if finding.container_id and current.container_id and finding.container_id != current.container_id:
            return []  # about an older container of the same name
        if finding.quiet:
            self._close(current, finding.reason or "the subject is gone", now)
            return []
        if current.resolve_pending_since is not None:
            return []
        return self._resolve(current, finding.reason or "the condition cleared", now)

    def resolve(self, incident: Incident, reason: str, now: float, *, quiet: bool = False) -> list[Notice]:
        """Resolve a firing incident directly (recovered, …); ``quiet``: at once and without a message
        (its container is gone)."""
        if incident.state != "firing":
            return []
        if quiet:
            self._close(incident, reason, now)
            return []
        if incident.resolve_pending_since is not None:
            return []
        return self._resolve(incident, reason, now)

    def _fire(self, fp: str, current: Incident | None, finding: Finding, now: float) -> list[Notice]:
        if current is not None and finding.marker is not None and current.marker == finding.marker:
            return []
        attribution = finding.attribution
        if current is None or current.state == "resolved":
            incident = self.store.save(
                Incident(
                    id=self._new_id(),
                    fingerprint=fp,
                    kind=finding.kind,
                    severity=finding.severity,
                    state="firing",
                    host=self.host,
                    tenant=attribution.tenant,
                    stack=attribution.stack,
                    template=attribution.template,
                    plan=attribution.plan,
                    subject=finding.subject,
                    container_id=finding.container_id,
                    detail=finding.detail,
                    evidence=finding.evidence,
                    marker=finding.marker,
                    opened_at=now,
                    last_seen_at=now,
                )
            )
            log.info(
                "monitor.incident_opened",
                incident=incident.id,
                kind=incident.kind.value,
                severity=incident.severity.value,
                tenant=incident.tenant,
                stack=incident.stack,
                subject=incident.subject,
            )
            return [Notice(type="firing", incident=incident)]
        if current.resolve_pending_since is not None:
            log.info("monitor.flap_suppressed", incident=current.id, kind=current.kind.value)
        updated = self.store.save(
            current.model_copy(
                update={
                    "severity": finding.severity,
                    "detail": finding.detail,
                    "evidence": finding.evidence,
                    "marker": finding.marker or current.marker,
                    "container_id": finding.container_id or current.container_id,
                    "occurrences": current.occurrences + 1,
                    "last_seen_at": now,
                    "resolve_pending_since": None,
                    "resolve_reason": None,
                }
            )
        )
        if finding.severity.rank > current.severity.rank:
            log.info("monitor.incident_escalated", incident=updated.id, severity=updated.severity.value)
            return [Notice(type="escalated", incident=updated)]
        return []

    def _resolve(self, incident: Incident, reason: str, now: float) -> list[Notice]:
        if self.resolve_hold > 0:
            self.store.save(
                incident.model_copy(update={"resolve_pending_since": now, "resolve_reason": reason})
            )
            return []
        return [self._close(incident, reason, now)]

    def _close(self, incident: Incident, reason: str, now: float) -> Notice:
        closed = self.store.save(
            incident.model_copy(
                update={
                    "state": "resolved",
                    "resolved_at": now,
                    "resolve_pending_since": None,
                    "resolve_reason": reason,
                }
            )
        )
        log.info(
            "monitor.incident_resolved",
            incident=closed.id,
            kind=closed.kind.value,
            tenant=closed.tenant,
            stack=closed.stack,
            subject=closed.subject,
            reason=reason,
        )
        return Notice(type="resolved", incident=closed)

    def close_absent(
        self,
        *,
        containers: set[str] | None = None,
        volume_stacks: set[tuple[str | None, str | None]] | None = None,
        now: float,
    ) -> None:
        """End, quietly, the incidents of containers (or stacks' volumes) that no longer exist."""
        for incident in self.store.firing():
            if containers is not None and incident.container_id and incident.container_id not in containers:
                self.resolve(incident, "the container was removed", now, quiet=True)
            elif (
                volume_stacks is not None
                and incident.kind is Kind.VOLUME_QUOTA
                and (incident.tenant, incident.stack) not in volume_stacks
            ):
                self.resolve(incident, "the stack's volumes are gone", now, quiet=True)

    def due(self, now: float, *, is_running: Callable[[str], bool | None], stream_up: bool) -> list[Notice]:
        """Matured resolves, repeats, pages held back (suppressed) until now, and what time ends:
        recovered containers (``is_running``: the detection side's knowledge) and a stable stream."""
        notices: list[Notice] = []
        for incident in self.store.firing():
            quiet_for = now - incident.last_seen_at
            if incident.resolve_pending_since is None and quiet_for >= self.recovery:
                if incident.kind in RECOVERY_KINDS and incident.container_id:
                    if is_running(incident.container_id):
                        reason = (
                            f"the container has run for {human_duration(self.recovery)} without dying again"
                        )
                        notices.extend(self._resolve(incident, reason, now))
                        continue
                elif incident.kind is Kind.MONITOR_GAP and stream_up:
                    self.resolve(incident, "the event stream is stable again", now, quiet=True)
                    continue
            if incident.resolve_pending_since is not None:
                if now - incident.resolve_pending_since >= self.resolve_hold:
                    notices.append(
                        self._close(incident, incident.resolve_reason or "the condition cleared", now)
                    )
            elif incident.notified_at is None:
                notices.append(Notice(type="firing", incident=incident))
            elif now - incident.notified_at >= self.repeat_interval:
                notices.append(Notice(type="repeat", incident=incident))
        return notices
