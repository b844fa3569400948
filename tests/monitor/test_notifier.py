"""Tests for monitor.notifier: real Apprise deliveries to a local HTTP sink, tag routing, secrecy."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.messages import render
from monitor.notifier import AppriseNotifier, DeliveryStatus
from shared.errors import ConfigurationError
from tests.monitor.fakes import BASE, item
from tests.monitor.support import Sink


def page(notice: str = "firing") -> object:
    return render([item(notice)], host="h", window=0, runbook_base="https://x/")  # type: ignore[arg-type]


def test_env_urls_receive_every_tag_and_the_payload_is_the_message(sink: Sink) -> None:
    """A URL from CFA_APPRISE_URLS gets pages and resolved notices, as Apprise's JSON payload."""
    notifier = AppriseNotifier([sink.url])
    assert notifier.send(page()).status is DeliveryStatus.DELIVERED  # type: ignore[arg-type]
    assert notifier.send(page("resolved")).status is DeliveryStatus.DELIVERED  # type: ignore[arg-type]
    first, second = sink.messages()
    assert first["title"] == "[CRITICAL] OOM killed — tenant acme / stack bot" and first["type"] == "failure"
    assert f"Runbook: {BASE}runbooks/oom-killed.md" in first["message"]
    assert second["type"] == "success"


def test_a_config_file_routes_by_tag(sink: Sink, tmp_path: Path) -> None:
    """A service tagged only `resolved` gets resolved notices; a page for it is unrouted, not failed."""
    config = tmp_path / "apprise.yml"
    config.write_text(f"version: 1\nurls:\n  - {sink.url}:\n      - tag: resolved\n")
    notifier = AppriseNotifier([], str(config))
    assert notifier.send(page()).status is DeliveryStatus.UNROUTED  # type: ignore[arg-type]
    assert notifier.send(page("resolved")).status is DeliveryStatus.DELIVERED  # type: ignore[arg-type]
    assert [m["type"] for m in sink.messages()] == ["success"]


def test_an_unreachable_endpoint_is_a_failure_whose_detail_hides_the_url() -> None:
    """Delivery failures are returned (Apprise never raises) and carry no secret."""
    down = Sink()
    down.stop()
    secret_url = f"json://user:hunter2-secret@127.0.0.1:{down.port}/hook"
    outcome = AppriseNotifier([secret_url], timeout=5).send(page())  # type: ignore[arg-type]
    assert outcome.status is DeliveryStatus.FAILED
    assert "hunter2-secret" not in outcome.detail


def test_an_invalid_url_is_a_configuration_error_that_does_not_echo_it() -> None:
    """The error names the position, never the URL (it may embed a token)."""
    with pytest.raises(ConfigurationError) as err:
        AppriseNotifier(["json://127.0.0.1/ok", "nonsense-scheme://token-abc123"])
    assert "number 2" in str(err.value) and "token-abc123" not in str(err.value)
