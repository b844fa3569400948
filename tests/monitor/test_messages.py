"""Tests for monitor.messages: alert text, tags and burst summaries."""

from __future__ import annotations

from monitor.findings import Kind
from monitor.messages import MAX_BODY, MAX_SUMMARY_ITEMS, render, runbook_url
from tests.monitor.fakes import BASE, item


def test_a_page_names_tenant_stack_template_plan_evidence_and_runbook() -> None:
    """Title and body carry everything on-call needs, tagged by severity."""
    page = item()
    assert page.title == "[CRITICAL] OOM killed — tenant acme / stack bot"
    assert page.tag == "critical"
    assert "(template telegram-bot, plan starter)" in page.body
    assert "memory_limit: 256 MiB" in page.body and "exit_code: 137" in page.body
    assert "empty" not in page.body
    assert page.body.endswith(f"Runbook: {BASE}runbooks/oom-killed.md")


def test_resolved_repeat_and_host_level_titles() -> None:
    """Resolved notices use the resolved tag and say how long it fired; host incidents name the host."""
    resolved = item("resolved", resolve_reason="the container was removed")
    assert resolved.title == "[RESOLVED] OOM killed — tenant acme / stack bot" and resolved.tag == "resolved"
    assert (
        "Resolved (cf-acme-bot): the container was removed." in resolved.body
        and "It fired for 12 min." in resolved.body
    )
    assert item("repeat").title.startswith("[CRITICAL] Still firing: OOM killed")
    disk = item(kind="disk-pressure", severity="warning", tenant=None, stack=None, subject="/var/lib/docker")
    assert disk.title == "[WARNING] Disk pressure — host h1 — /var/lib/docker" and disk.tag == "warning"
    crash = item(
        kind="container-crashed", tenant=None, stack=None, template=None, plan=None, subject="coolify-db"
    )
    assert crash.title == "[CRITICAL] Container crashed — unattributed container coolify-db"


def test_runbook_urls_join_cleanly() -> None:
    """With or without a trailing slash on the base URL."""
    assert runbook_url("https://x/y", Kind.CRASH_LOOP) == runbook_url("https://x/y/", Kind.CRASH_LOOP)


def test_a_summary_lists_each_item_with_its_runbook_and_takes_the_highest_tag() -> None:
    """Several items become one message; critical wins over warning and resolved."""
    items = [
        item(),
        item("resolved"),
        item(kind="disk-pressure", severity="warning", tenant=None, stack=None),
    ]
    message = render(items, host="h1", window=10, runbook_base=BASE)
    assert message.title == "[CRITICAL] 2 alert(s), 1 resolved on host h1 (grouped)"
    assert message.tag == "critical" and message.notify_type == "failure"
    assert message.body.count("Runbook: ") == 3
    assert render([item("resolved")] * 2, host="h1", window=10, runbook_base=BASE).notify_type == "success"


def test_long_bodies_and_summaries_are_bounded() -> None:
    """Telegram takes 4096 characters: bodies are cut and summaries list a bounded number of items."""
    assert len(item(detail="x" * 10_000).body) == MAX_BODY
    message = render([item()] * (MAX_SUMMARY_ITEMS + 5), host="h1", window=10, runbook_base=BASE)
    shown = message.body.count("• ")
    assert 0 < shown <= MAX_SUMMARY_ITEMS and len(message.body) <= MAX_BODY
    assert f"… and {MAX_SUMMARY_ITEMS + 5 - shown} more" in message.body


def test_a_summary_keeps_one_line_of_evidence_per_item() -> None:
    """Each summarised item keeps what on-call triages with: exit code, image, check output; one line."""
    crashed = item(
        kind="container-crashed",
        subject="cf-acme-job",
        evidence={"container": "cf-acme-job", "exit_code": 3, "image": "cf/job:2", "restart_policy": "no"},
    )
    sick = item(
        id="b",
        kind="container-unhealthy",
        subject="cf-acme-web",
        evidence={"health_output": "db down:\nconnection refused", "failing_streak": 3},
    )
    message = render([crashed, sick], host="h1", window=10, runbook_base=BASE)
    assert "  cf-acme-job: exit_code 3; image cf/job:2; restart_policy no" in message.body
    assert "  cf-acme-web: health_output db down: connection refused; failing_streak 3" in message.body
    assert len(item(evidence={"health_output": "x" * 500}).evidence) <= len("cf-acme-bot: ") + 100
