"""`cfa rotate TENANT/STACK`: what it prints, --dry-run and --json, its refusals, a SIGKILL at each
step followed by the same command, and no secret value in any output or log."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from shared.pocketbase.embedded import PocketBaseServer
from tests.cli.conftest import Cfa, CfaProcess
from tests.fakes.coolify import DEFAULT_TOKEN, FakeCoolify
from tests.serve.harness import PB

TOKEN = "123456789:AArotatetokenrotatetokenrotatetok1"
NEW_TOKEN = "123456789:AArotatetokennewnewnewnewnewnewne2"
KEY = "sk-rotate-router-key-0000000"
TOKENS = ["OPENCLAW_GATEWAY_TOKEN", "OPENCLAW_HOOKS_TOKEN"]


def setup(cfa: Cfa, served: tuple[FakeCoolify, str]) -> None:
    """A bot and an agent of tenant acme, running. Starts take a moment in the fake, as in Coolify, so
    a waiting rotate sees its restart happen (a healthy status seen at once may be the old containers)."""
    fake, url = served
    fake.state.transition_delay = 0.3
    assert cfa("pb", "migrate")[0] == 0
    assert cfa("tenants", "create", "acme", "--plan", "starter")[0] == 0
    bot = ["--param", f"telegram_token={TOKEN}", "--param", f"router_api_key={KEY}"]
    assert cfa("provision", "acme", "telegram-bot", "--name", "bot", *bot, coolify=url)[0] == 0
    assert (
        cfa("provision", "acme", "openclaw-agent", "--name", "agent", "--param", f"router_api_key={KEY}")[0]
        == 0
    )


def stored_envs(fake: FakeCoolify, name: str) -> dict[str, str | None]:
    (service,) = fake.services_named(f"cf-acme-{name}")
    return fake.env_values(service.uuid)


def test_rotate_prints_what_rotated_and_json_says_it_too(
    cfa: Cfa, served_coolify: tuple[FakeCoolify, str]
) -> None:
    """The human output names the rotated secrets and the restart; --json has the same as fields."""
    fake, _ = served_coolify
    setup(cfa, served_coolify)
    before = stored_envs(fake, "agent")
    code, out, err = cfa("rotate", "acme/agent")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "acme/agent: rotated OPENCLAW_GATEWAY_TOKEN, OPENCLAW_HOOKS_TOKEN"
    assert "restarted: yes" in lines and "acme/agent: running (desired: running)" in lines
    assert any(line.startswith("note: OPENCLAW_GATEWAY_TOKEN: ") for line in lines)
    after = stored_envs(fake, "agent")
    assert all(after[t] != before[t] for t in TOKENS)

    code, out, _ = cfa("rotate", "acme/agent", "--only", "OPENCLAW_HOOKS_TOKEN", "--json")
    result = json.loads(out)
    assert code == 0
    assert (result["rotated"], result["restarted"], result["status"]) == (
        ["OPENCLAW_HOOKS_TOKEN"],
        True,
        "running",
    )


def test_a_tenant_token_from_a_file_replaces_the_old_one(
    cfa: Cfa, served_coolify: tuple[FakeCoolify, str], tmp_path: Path
) -> None:
    """--param telegram_token=@FILE: the new token is in Coolify, the old one nowhere."""
    fake, _ = served_coolify
    setup(cfa, served_coolify)
    secret = tmp_path / "token.txt"
    secret.write_text(NEW_TOKEN + "\n")
    code, out, err = cfa("rotate", "acme/bot", "--param", f"telegram_token=@{secret}")
    assert code == 0, err
    assert out.splitlines()[0] == "acme/bot: rotated telegram_token"
    assert stored_envs(fake, "bot")["TELEGRAM_BOT_TOKEN"] == NEW_TOKEN


def test_dry_run_names_what_would_rotate_and_changes_nothing(
    cfa: Cfa, served_coolify: tuple[FakeCoolify, str]
) -> None:
    """--dry-run: the names, the Coolify calls (values masked, not sent); Coolify and the store untouched."""
    fake, _ = served_coolify
    setup(cfa, served_coolify)
    before, writes = stored_envs(fake, "agent"), len(fake.write_calls)
    code, out, err = cfa("rotate", "acme/agent", "--dry-run")
    assert code == 0, err
    assert out.splitlines()[0] == "acme/agent: would rotate OPENCLAW_GATEWAY_TOKEN, OPENCLAW_HOOKS_TOKEN"
    assert "DRY RUN (--dry-run)" in out and "PATCH /services/" in out and "/restart   [not sent]" in out
    code, out, _ = cfa("rotate", "acme/agent", "--dry-run", "--json")
    result = json.loads(out)
    assert (code, result["dry_run"], result["rotated"]) == (0, True, TOKENS)
    assert len(fake.write_calls) == writes and stored_envs(fake, "agent") == before
    code, out, _ = cfa("audit", "acme", "--json")
    assert not [e for e in json.loads(out) if e["action"].startswith("rotate")]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["acme/bot"], "cfa: acme/bot: template telegram-bot generates no secret that can be rotated"),
        (["acme/bot", "--param", "model=gpt-4o"], "cfa: param model: is not a secret"),
        (["acme/agent", "--only", "OPENCLAW_GATEWAY_TOKN"], "did you mean OPENCLAW_GATEWAY_TOKEN?"),
        (["acme/agent", "--only", "router_api_key"], "pass its new value: cfa rotate acme/agent --param"),
        (["acme/ghost"], "cfa: tenant acme has no stack 'ghost'"),
    ],
)
def test_refusals_exit_with_their_code_and_one_line(
    cfa: Cfa, served_coolify: tuple[FakeCoolify, str], args: list[str], says: str
) -> None:
    setup(cfa, served_coolify)
    code, out, err = cfa("rotate", *args)
    assert code == (3 if "ghost" in args[0] else 2)
    assert out == "" and says in err.strip().splitlines()[-1]


@pytest.mark.parametrize(
    "step", ["rotate.requested", "rotate.secrets_stored", "rotate.envs_set", "rotate.restarted"]
)
def test_killed_at_any_step_the_same_command_converges(
    cfa: Cfa, cfa_process: CfaProcess, served_coolify: tuple[FakeCoolify, str], step: str
) -> None:
    """SIGKILL right after the step's audit event; the same command again takes over the dead
    process's lock and ends with Coolify serving exactly what is stored, nothing pending."""
    fake, _ = served_coolify
    setup(cfa, served_coolify)
    before = stored_envs(fake, "agent")
    killed = cfa_process.run("rotate", "acme/agent", CFA_TEST_CRASH_AT=step)
    assert killed.returncode == -signal.SIGKILL

    again = cfa_process.run("rotate", "acme/agent", "--json")
    assert again.returncode == 0, again.stderr
    result = json.loads(again.stdout)
    assert (result["status"], result["rotated"]) == ("running", TOKENS)
    (service,) = fake.services_named("cf-acme-agent")
    after = fake.env_values(service.uuid)
    container = fake.container(service.uuid, "openclaw").environment
    assert all(after[t] != before[t] and container[t] == after[t] for t in TOKENS)
    _, out, _ = cfa("status", "acme", "--json")
    agent = next(s for s in json.loads(out)["stacks"] if s["name"] == "agent")
    assert agent["status"] == "running"


def test_no_secret_in_any_output_or_log(
    cfa: Cfa,
    served_coolify: tuple[FakeCoolify, str],
    pocketbase: PocketBaseServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """Rotations (real, dry-run, --json, refused, failing in Coolify) at DEBUG: no old or new value shows."""
    fake, _ = served_coolify
    monkeypatch.setenv("CFA_LOG_LEVEL", "DEBUG")
    setup(cfa, served_coolify)
    old = {**stored_envs(fake, "agent"), **stored_envs(fake, "bot")}
    outputs: list[str] = []

    def run(*args: str) -> int:
        code, out, err = cfa(*args)
        outputs.extend([out, err])
        return code

    assert run("rotate", "acme/agent", "--dry-run") == 0
    assert run("rotate", "acme/agent", "--dry-run", "--json") == 0
    assert run("rotate", "acme/agent") == 0
    assert run("rotate", "acme/bot", "--param", f"telegram_token={NEW_TOKEN}", "--json") == 0
    assert run("rotate", "acme/bot", "--param", f"telegram_token={NEW_TOKEN}") == 2  # the value it has
    fake.inject("PATCH", r"/envs/bulk$", "error_500_before", times=None)
    assert run("rotate", "acme/agent") == 75
    assert run("status", "acme", "--json") == 0
    assert run("audit", "acme", "--json") == 0
    new = {**stored_envs(fake, "agent"), **stored_envs(fake, "bot")}
    superuser = PB.superuser(pocketbase)
    stored = [v for r in superuser.records("stack_secrets") for v in r["values"].values()]
    superuser.close()
    assert set(stored) - set(new.values())  # the failed rotation's values: stored, never pushed
    text = "\n".join(outputs)
    assert "rotate.requested" in text  # the logs really were captured
    secrets = {v for v in [*old.values(), *new.values(), *stored] if v} | {NEW_TOKEN, DEFAULT_TOKEN}
    secrets.add(pocketbase.password.get_secret_value())
    for secret in secrets:
        assert secret not in text, f"a secret leaked: {secret[:6]}..."
