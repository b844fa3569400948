"""Tests for monitor.cli: silences, incidents, exit codes, test-notify, and `python -m monitor run`."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from monitor.cli import main
from monitor.incidents import IncidentBook, IncidentStore
from monitor.store import Database, db_path
from shared.pocketbase.embedded import PocketBaseServer
from tests.monitor.fakes import finding
from tests.monitor.support import Sink, wait_until
from tests.serve.harness import PB, tenant_record

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CFA_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CFA_ACTOR", "cli:tester")
    return tmp_path


@pytest.fixture
def known(data_dir: Path, pocketbase: PocketBaseServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[PB]:
    """A PocketBase (the configured one) that knows tenant acme with stack bot."""
    monkeypatch.setenv("CFA_POCKETBASE_URL", pocketbase.url)
    monkeypatch.setenv("CFA_POCKETBASE_EMAIL", pocketbase.email)
    monkeypatch.setenv("CFA_POCKETBASE_PASSWORD", pocketbase.password.get_secret_value())
    pbr = PB.superuser(pocketbase)
    tenant = pbr.create("tenants", tenant_record("acme"))
    pbr.create(
        "stacks",
        {
            "tenant": tenant["id"],
            "name": "bot",
            "template": "telegram-bot",
            "desired_state": "running",
            "status": "running",
        },
    )
    yield pbr
    pbr.close()


def test_silence_list_and_lift(known: PB, capsys: pytest.CaptureFixture[str]) -> None:
    """silence prints the id and expiry; silences lists it; unsilence lifts it; listing is empty again."""
    assert main(["silence", "--tenant", "acme", "--stack", "bot", "--for", "2h", "--reason", "upgrade"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("silence ") and "tenant acme / stack bot until" in out and "(2 h)" in out
    silence_id = out.split()[1].rstrip(":")
    assert main(["silences", "--json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert (listed["id"], listed["reason"], listed["created_by"]) == (silence_id, "upgrade", "cli:tester")
    assert main(["unsilence", silence_id]) == 0
    assert main(["silences"]) == 0
    assert "no active silences" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "hint"),
    [
        (["silence", "--tenant", "acmee", "--for", "2h"], "did you mean acme?"),
        (["silence", "--tenant", "acme", "--stack", "bott", "--for", "2h"], "did you mean bot?"),
    ],
)
def test_silencing_a_name_that_does_not_exist_is_refused(
    known: PB, argv: list[str], hint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A typo would silence nothing while the real tenant keeps paging: refused (exit 3) with the close
    name, and no silence is stored."""
    assert main(argv) == 3
    assert hint in capsys.readouterr().err
    assert main(["silences", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_silence_without_pocketbase_needs_unchecked(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """PocketBase down: the names cannot be checked, so silence says so (retryable, 75) and offers
    --unchecked, which silences without the check."""
    monkeypatch.setenv("CFA_POCKETBASE_URL", f"http://127.0.0.1:{_free_port()}")
    monkeypatch.setenv("CFA_POCKETBASE_EMAIL", "a@b.c")
    monkeypatch.setenv("CFA_POCKETBASE_PASSWORD", "secret-password")
    assert main(["silence", "--tenant", "acme", "--for", "1h"]) == 75
    assert "--unchecked" in capsys.readouterr().err
    assert main(["silence", "--tenant", "acme", "--for", "1h", "--unchecked", "--json"]) == 0
    created = json.loads(capsys.readouterr().out)
    assert (created["tenant"], created["stack"]) == ("acme", None)


def test_every_monitor_command_answers_json(known: PB, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["silence", "--tenant", "acme", "--for", "1h", "--json"]) == 0
    created = json.loads(capsys.readouterr().out)
    assert main(["unsilence", created["id"], "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"id": created["id"], "lifted": True}


def test_without_a_configured_pocketbase_silence_says_the_names_are_unchecked(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No CFA_POCKETBASE_URL: the monitor knows tenants only from container labels, so the names are not
    checked (and no embedded PocketBase is started to check them); stderr says so."""
    assert main(["silence", "--tenant", "acme", "--for", "1h"]) == 0
    assert "names not checked" in capsys.readouterr().err
    assert not (data_dir / "pocketbase").exists()


def test_test_notify_without_urls_is_a_configuration_error(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["test-notify"]) == 6
    assert "CFA_APPRISE_URLS" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["silence", "--tenant", "Bad Slug", "--for", "2h"],
        ["silence", "--tenant", "acme", "--for", "soon"],
        ["silence", "--tenant", "acme", "--for", "90d"],
        ["silence", "--tenant", "acme", "--for", "1h", "--kind", "nope"],
        ["silence", "--for", "1h"],
        ["frobnicate"],
    ],
)
def test_bad_input_exits_2(data_dir: Path, argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """Invalid slugs, durations, kinds and commands are refused with exit code 2."""
    assert main(argv) == 2
    assert capsys.readouterr().err


def test_invalid_settings_are_a_configuration_error(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A malformed CFA_ variable exits 6 and names the variable, not a traceback."""
    monkeypatch.setenv("CFA_MONITOR_HTTP_PORT", "not-a-port")
    assert main(["silences"]) == 6
    assert "CFA_MONITOR_HTTP_PORT" in capsys.readouterr().err


def test_unknown_silence_exits_3(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Lifting a silence that does not exist is NotFound (exit 3) with advice."""
    assert main(["unsilence", "deadbeef"]) == 3
    assert "no active silence deadbeef" in capsys.readouterr().err


def test_incidents_lists_firing_and_optionally_resolved(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The table shows firing incidents; --all --json includes resolved ones."""
    db = Database(db_path(data_dir))
    book = IncidentBook(IncidentStore(db), host="h", resolve_hold=0, repeat_interval=3600)
    book.apply(finding(), 1.0)
    [old] = book.apply(finding(subject="other", container_id="o"), 1.0)
    book.resolve(old.incident, "fixed", 2.0)
    db.close()
    capsys.readouterr()
    assert main(["incidents"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and "firing" in lines[0] and "acme/bot" in lines[0] and "oom-killed" in lines[0]
    assert main(["incidents", "--all", "--json"]) == 0
    assert sorted(i["state"] for i in json.loads(capsys.readouterr().out)) == ["firing", "resolved"]


def test_test_notify_delivers_or_fails_with_exit_75(
    data_dir: Path, sink: Sink, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """test-notify sends through Apprise now; an unreachable endpoint is a retryable error."""
    monkeypatch.setenv("CFA_APPRISE_URLS", sink.url)
    assert main(["test-notify", "--tag", "critical"]) == 0
    assert sink.titles() == ["[CRITICAL] Test message from the CloudFreedom monitor"]
    capsys.readouterr()
    assert main(["test-notify", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"delivered": True, "tag": "warning", "services": 1}
    sink.stop()
    assert main(["test-notify"]) == 75
    assert "failed" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.docker
def test_python_m_monitor_run_serves_health_metrics_heartbeat_and_stops_on_sigterm(
    docker: Any, sink: Sink, tmp_path: Path
) -> None:
    """The sidecar process: /healthz 200 once connected, /metrics, heartbeat pings, secrets kept out of
    its logs, exit 0 on SIGTERM."""
    port = _free_port()
    heartbeat = f"http://127.0.0.1:{sink.port}/ping/very-secret-check-id"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CFA_")},
        "CFA_DATA_DIR": str(tmp_path),
        "CFA_APPRISE_URLS": f"json://hook-user:apprise-secret-token@127.0.0.1:{sink.port}/hook",
        "CFA_MONITOR_HTTP_PORT": str(port),
        "CFA_MONITOR_HEARTBEAT_URL": heartbeat,
        "CFA_MONITOR_HEARTBEAT_INTERVAL_SECONDS": "0.2",
        "CFA_MONITOR_DISK_PATHS": str(tmp_path),
        "CFA_LOG_LEVEL": "DEBUG",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "monitor", "run"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:

        def healthy() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return process.poll() is not None

        wait_until(healthy, what="/healthz 200")
        assert process.poll() is None
        health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).json()
        assert health["stream_connected"] is True and health["outbox"] == {"held": 0, "ready": 0}
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        assert "cfmon_stream_connected 1.0" in metrics and "cfmon_incidents" in metrics
        wait_until(lambda: len(sink.requests) >= 2, what="heartbeat pings")
        assert sink.requests[0] == "/ping/very-secret-check-id"
        time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr.decode()[-2000:]
    logs = [json.loads(line) for line in stderr.decode().splitlines() if line.startswith("{")]
    events = [entry["event"] for entry in logs]
    assert "monitor.started" in events and events[-1] == "monitor.stopped"
    text = stderr.decode() + stdout.decode()
    assert "very-secret-check-id" not in text and "apprise-secret-token" not in text
