"""Alert text: one message per notice, or one summary for a burst; every item links its runbook.

Apprise tags route them: ``critical`` and ``warning`` for pages, ``resolved`` for recoveries.
"""

from __future__ import annotations

from datetime import UTC, datetime

from monitor.findings import TITLES, Kind, Severity
from monitor.incidents import Incident, Notice, NoticeType
from monitor.units import human_duration
from monitor.values import Value

# Telegram's limit is 4096 characters per message; a summary lists at most this many items.
MAX_BODY = 3900
MAX_SUMMARY_ITEMS = 25
# One line of evidence per summary item: enough to triage, short enough for 25 items in one message.
MAX_EVIDENCE_LINE = 100

NOTIFY_TYPES = {"critical": "failure", "warning": "warning", "resolved": "success"}


class NoticeItem(Value):
    """One rendered notice; the unit that grouping folds into summaries. ``evidence`` is its one line
    of facts that a summary keeps (exit code, image, check output …)."""

    notice: NoticeType
    kind: Kind
    severity: Severity
    tag: str
    title: str
    body: str
    incident_id: str
    evidence: str = ""


class Message(Value):
    """What goes to Apprise."""

    title: str
    body: str
    tag: str
    notify_type: str
    items: list[NoticeItem]


def runbook_url(base: str, kind: Kind) -> str:
    return f"{base.rstrip('/')}/runbooks/{kind.value}.md"


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _subject(incident: Incident) -> str:
    if incident.tenant is not None:
        return incident.attribution.describe()
    if incident.kind in (Kind.DISK_PRESSURE, Kind.MONITOR_GAP):
        return f"host {incident.host}" + (
            f" — {incident.subject}" if incident.kind is Kind.DISK_PRESSURE else ""
        )
    return f"unattributed container {incident.subject}"


def _context(incident: Incident) -> str:
    extra = [f"template {incident.template}" if incident.template else None]
    extra.append(f"plan {incident.plan}" if incident.plan else None)
    shown = [e for e in extra if e]
    return f" ({', '.join(shown)})" if shown else ""


def evidence_line(incident: Incident) -> str:
    """The incident's evidence on one line (the container name is already in the title's context)."""
    facts = [
        f"{key} {' '.join(str(value).split())}"
        for key, value in incident.evidence.items()
        if value not in (None, "") and key != "container"
    ]
    line = "; ".join(facts)
    return line if len(line) <= MAX_EVIDENCE_LINE else line[: MAX_EVIDENCE_LINE - 1] + "…"


def render_item(notice: Notice, *, runbook_base: str, now: float) -> NoticeItem:
    incident = notice.incident
    headline = f"{TITLES[incident.kind]} — {_subject(incident)}"
    if notice.type == "resolved":
        tag, label = "resolved", "RESOLVED"
    else:
        tag, label = incident.severity.value, incident.severity.value.upper()
    prefix = {"firing": "", "escalated": "", "repeat": "Still firing: ", "resolved": ""}[notice.type]
    title = f"[{label}] {prefix}{headline}"
    lines = [f"{headline}{_context(incident)}"]
    if notice.type == "resolved":
        lines.append(f"Resolved ({incident.subject}): {incident.resolve_reason or 'the condition cleared'}.")
        lines.append(f"It fired for {human_duration(max(0.0, now - incident.opened_at))}.")
    else:
        lines.append(incident.detail)
        if notice.type == "repeat":
            lines.append(f"Firing since {_when(incident.opened_at)} ({incident.occurrences} occurrence(s)).")
        if notice.type == "escalated":
            lines.append(f"Escalated to {incident.severity.value}.")
        facts = [f"{key}: {value}" for key, value in incident.evidence.items() if value not in (None, "")]
        if facts:
            lines.append("")
            lines.extend(facts)
    lines.append("")
    lines.append(
        f"host {incident.host} · kind {incident.kind.value} · incident {incident.id}"
        f" · since {_when(incident.opened_at)}"
    )
    lines.append(f"Runbook: {runbook_url(runbook_base, incident.kind)}")
    body = "\n".join(lines)
    if len(body) > MAX_BODY:
        body = body[: MAX_BODY - 1] + "…"
    return NoticeItem(
        notice=notice.type,
        kind=incident.kind,
        severity=incident.severity,
        tag=tag,
        title=title,
        body=body,
        incident_id=incident.id,
        evidence=f"{incident.subject}: {incident.resolve_reason or 'the condition cleared'}"
        if notice.type == "resolved"
        else f"{incident.subject}: {evidence_line(incident)}".rstrip(": "),
    )


def _summary_tag(items: list[NoticeItem]) -> str:
    tags = {item.tag for item in items}
    for tag in ("critical", "warning"):
        if tag in tags:
            return tag
    return "resolved"


def render(items: list[NoticeItem], *, host: str, window: float, runbook_base: str) -> Message:
    """A single item as itself; several as one summary that lists each with its runbook."""
    if len(items) == 1:
        item = items[0]
        return Message(
            title=item.title, body=item.body, tag=item.tag, notify_type=NOTIFY_TYPES[item.tag], items=items
        )
    tag = _summary_tag(items)
    pages = sum(1 for item in items if item.notice != "resolved")
    resolved = len(items) - pages
    counts = [f"{pages} alert(s)" if pages else "", f"{resolved} resolved" if resolved else ""]
    title = f"[{tag.upper()}] {', '.join(c for c in counts if c)} on host {host} (grouped)"
    lines = [
        f"These arrived within {human_duration(window)} of the previous message and are grouped here:",
        "",
    ]
    shown = 0
    used = sum(len(line) + 1 for line in lines)
    reserve = 120  # room for the "… and N more" line
    for item in items[:MAX_SUMMARY_ITEMS]:
        block = [f"• {item.title} (incident {item.incident_id})"]
        if item.evidence:
            block.append(f"  {item.evidence}")
        block.append(f"  Runbook: {runbook_url(runbook_base, item.kind)}")
        size = sum(len(line) + 1 for line in block)
        if used + size + reserve > MAX_BODY:
            break
        lines.extend(block)
        used += size
        shown += 1
    if len(items) > shown:
        lines.append(f"… and {len(items) - shown} more: run `cfa monitor incidents` on {host}.")
    body = "\n".join(lines)
    return Message(title=title, body=body, tag=tag, notify_type=NOTIFY_TYPES[tag], items=items)
