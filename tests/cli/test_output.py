"""Output a person can follow: progress while waiting, quiet logs at a terminal, did-you-mean, errors
that state the rule and what to do, a stable data directory, consistent exit codes."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import time
from pathlib import Path

import pytest

from shared.pocketbase.embedded import PocketBaseServer
from shared.settings import REPO_ROOT, Settings
from tests.cli.conftest import Cfa, CfaProcess
from tests.cli.test_cli import KEY, provision_args
from tests.fakes.coolify import FakeCoolify


def run_in_terminal(process: CfaProcess, *args: str, timeout: float = 90) -> tuple[int, str]:
    """Run cfa with stdin, stdout and stderr on a pseudo-terminal; (exit code, everything it wrote)."""
    leader, follower = pty.openpty()
    child = subprocess.Popen(
        process.command(*args),
        env=process.environ(TERM="xterm"),
        cwd=REPO_ROOT,
        stdin=follower,
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.2)
        if ready:
            try:
                data = os.read(leader, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        elif child.poll() is not None:
            break
    code = child.wait(timeout=10)
    os.close(leader)
    return code, b"".join(chunks).decode(errors="replace")


def test_a_wait_at_a_terminal_shows_progress_and_no_json(
    cfa: Cfa, cfa_process: CfaProcess, served_coolify: tuple[FakeCoolify, str]
) -> None:
    """A provision that waits ~10 s shows what it waits for and for how long, on one rewritten line;
    the INFO logs stay out of the way (JSON goes nowhere at a terminal unless asked)."""
    fake, _ = served_coolify
    cfa("pb", "migrate")
    cfa("tenants", "create", "acme", "--plan", "starter")
    fake.state.transition_delay = 10.0
    code, out = run_in_terminal(cfa_process, *provision_args())
    assert code == 0, out
    assert "waiting for Coolify: acme/bot starting:unhealthy," in out and " s / 20 s" in out
    assert '{"' not in out  # no JSON log line
    assert out.rstrip().splitlines()[-1].strip() == "public url      -"


def test_a_refusal_at_a_terminal_ends_with_the_one_line_error(cfa: Cfa, cfa_process: CfaProcess) -> None:
    """The last line is `cfa: <what> — <what to do>`, not a log line."""
    cfa("pb", "migrate")
    code, out = run_in_terminal(cfa_process, "provision", "acme", "telegram-bot")
    assert code == 3
    assert out.rstrip().splitlines()[-1].startswith("cfa: tenant 'acme' does not exist — ")


def test_logs_go_to_the_log_file_and_json_on_request(
    cfa: Cfa, cfa_process: CfaProcess, tmp_path: Path
) -> None:
    """CFA_LOG_FILE gets the full JSON at a terminal; --log-json puts it on stderr there too."""
    cfa("pb", "migrate")
    log_file = tmp_path / "cfa.log"
    code, out = run_in_terminal(cfa_process, "tenants", "create", "acme", "--plan", "starter")
    assert code == 0 and '{"' not in out
    process = CfaProcess({**cfa_process.env, "CFA_LOG_FILE": str(log_file)})
    run_in_terminal(process, "tenants", "create", "globex", "--plan", "starter")
    events = [json.loads(line)["event"] for line in log_file.read_text().splitlines()]
    assert "audit.recorded" in events
    code, out = run_in_terminal(
        cfa_process, "--log-json", "tenants", "create", "initech", "--plan", "starter"
    )
    assert '"event": "audit.recorded"' in out


def test_a_near_miss_gets_a_suggestion(cfa: Cfa) -> None:
    """An unknown tenant, stack or template close to an existing one is suggested."""
    cfa("pb", "migrate")
    cfa("tenants", "create", "acme", "--plan", "starter")
    code, _, err = cfa("status", "acmee")
    assert code == 3 and "did you mean acme?" in err
    code, _, err = cfa("provision", "acme", "telegram-boot")
    assert code == 3 and "did you mean telegram-bot?" in err
    code, _, err = cfa("audit", "acmee")
    assert code == 3 and "did you mean acme?" in err


def test_errors_state_the_rule_and_what_to_do(cfa: Cfa, tmp_path: Path) -> None:
    """A parameter that fails its pattern shows the format; an empty @file says so; every error line
    has its '— what to do'."""
    cfa("pb", "migrate")
    cfa("tenants", "create", "acme", "--plan", "starter")
    args = provision_args()
    args[args.index(f"router_api_key={KEY}")] = "router_api_key=short"
    code, _, err = cfa(*args)
    last = err.strip().splitlines()[-1]
    assert code == 2 and "16\u2013256 characters of A\u2013Z" in last and " — " in last
    empty = tmp_path / "token"
    empty.write_text("\n")
    code, _, err = cfa("provision", "acme", "telegram-bot", "--param", f"telegram_token=@{empty}")
    assert code == 2 and f"{empty} is empty" in err
    code, out, _ = cfa("templates", "show", "telegram-bot")
    assert "FORMAT" in out and "a whole number from 0 to 50" in out
    for command in (
        ["status", "nobody"],
        ["delete", "acme/nobody"],
        ["tenants", "update", "acme", "--plan", "x"],
    ):
        _, _, err = cfa(*command)
        assert " — " in err.strip().splitlines()[-1], command


def test_a_missing_schema_is_a_configuration_error(cfa_unmigrated: Cfa) -> None:
    """Collections that were never migrated: exit 6 with the command that fixes it (not 3)."""
    code, _, err = cfa_unmigrated("tenants", "list")
    assert code == 6 and "run `cfa pb migrate` first" in err


def test_pb_status_reports_without_starting_a_stopped_embedded_pocketbase(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`cfa pb status` on a stopped embedded PocketBase says so (exit 75) and leaves it stopped."""
    from functions.cli.main import main

    process = CfaProcess({"CFA_DATA_DIR": str(tmp_path)})
    assert process.run("pb", "migrate").returncode == 0  # starts the embedded PocketBase
    assert process.run("pb", "stop").returncode == 0
    monkeypatch.setenv("CFA_DATA_DIR", str(tmp_path))
    code = main(["pb", "status", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 75 and report["healthy"] is False
    assert not (tmp_path / "pocketbase" / "server.json").exists()  # nothing was started


def test_the_data_directory_is_one_per_user(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Without CFA_DATA_DIR, the XDG data directory, wherever cfa runs (not ./.cfa)."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)
    assert Settings().data_dir == tmp_path / "xdg" / "cfa"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert Settings().data_dir == tmp_path / "home" / ".local" / "share" / "cfa"


def test_every_command_takes_json(pocketbase: PocketBaseServer) -> None:
    """The README promises --json on every command: each subcommand's parser accepts it."""
    from functions.cli.main import build_parser

    parser = build_parser()
    commands = [
        ["pb", "migrate"], ["pb", "status"], ["pb", "stop"], ["tenants", "list"], ["tenants", "create", "a"],
        ["tenants", "update", "a"], ["tenants", "suspend", "a"], ["tenants", "resume", "a"],
        ["tenants", "delete", "a"],
        ["provision", "a", "t"], ["status"], ["suspend", "a/b"], ["resume", "a/b"], ["delete", "a/b"],
        ["templates", "list"], ["templates", "show", "t"], ["doctor"], ["audit"], ["unlock", "a"],
        ["volumes", "list"], ["volumes", "copy", "a", "b"], ["hooks", "install", "--url", "u"],
    ]  # fmt: skip
    for command in commands:
        extra = ["--plan", "starter"] if command[:2] == ["tenants", "create"] else []
        assert parser.parse_args([*command, *extra, "--json"]).json is True, command
