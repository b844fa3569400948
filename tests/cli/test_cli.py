"""The cfa command line end to end: outputs, --json, exit codes, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.compose_loader import ComposeLoader
from tests.cli.conftest import Cfa
from tests.conftest import hide_compose
from tests.fakes.coolify import FakeCoolify

TOKEN = "123456789:AAclitokenclitokenclitokenclitoken1"
KEY = "sk-cli-router-key-000000000"


def provision_args(*extra: str) -> list[str]:
    return [
        "provision",
        "acme",
        "telegram-bot",
        "--name",
        "bot",
        "--param",
        f"telegram_token={TOKEN}",
        "--param",
        f"router_api_key={KEY}",
        *extra,
    ]


def test_the_operator_walkthrough(cfa: Cfa, served_coolify: tuple[FakeCoolify, str]) -> None:
    """migrate, create a tenant, provision, status, suspend, resume, delete — each exits 0."""
    fake, url = served_coolify
    assert cfa("pb", "migrate")[0] == 0
    code, out, _ = cfa("pb", "migrate")
    assert (code, out.strip()) == (0, "PocketBase schema is up to date; nothing changed.")
    code, out, _ = cfa("tenants", "create", "acme", "--plan", "starter", "--name", "Acme GmbH")
    assert (code, out.strip()) == (0, "tenant acme created (plan starter, name 'Acme GmbH')")

    code, out, err = cfa(*provision_args(), coolify=url)
    assert code == 0, err
    assert out.startswith("acme/bot (telegram-bot): running")

    code, out, _ = cfa("status", "acme", "--json")
    report = json.loads(out)
    assert code == 0
    assert (report["plan"], report["stacks"][0]["coolify_status"]) == ("starter", "running:healthy")

    assert cfa("suspend", "acme/bot")[1].strip() == "acme/bot: suspended (desired: suspended)"
    assert cfa("resume", "acme/bot")[1].strip() == "acme/bot: running (desired: running)"
    code, out, _ = cfa("delete", "acme/bot", "--keep-volumes", "--json")
    assert (code, json.loads(out)["status"]) == (0, "deleted")
    assert [d.delete_volumes for d in fake.deletions] == [False]


def test_errors_are_one_line_with_advice_and_documented_codes(cfa: Cfa) -> None:
    """Each failure prints 'cfa: <what> — <what to do>' on stderr and exits with its code."""
    cfa("pb", "migrate")
    code, _, err = cfa("provision", "nobody", "telegram-bot")
    assert code == 3
    assert err.strip().splitlines()[-1] == (
        "cfa: tenant 'nobody' does not exist — create it: cfa tenants create nobody --plan starter"
    )
    code, _, err = cfa("tenants", "create", "Bad_Slug", "--plan", "starter")
    assert code == 2 and err.strip().splitlines()[-1].startswith(
        "cfa: tenant: 'Bad_Slug' has upper-case letters"
    )
    code, _, err = cfa("tenants", "create", "acme", "--plan", "gold")
    assert code == 2 and "use one of: starter, team, business, sovereign" in err
    code, _, err = cfa("suspend", "acme-bot")
    assert code == 2 and "TENANT/STACK" in err


def test_dry_run_without_coolify_says_so(cfa: Cfa) -> None:
    """With no CFA_COOLIFY_URL, provision prints the banner, the numbered calls and the compose."""
    cfa("pb", "migrate")
    cfa("tenants", "create", "acme", "--plan", "starter")
    code, out, _ = cfa(*provision_args())
    assert code == 0
    assert out.startswith("DRY RUN (CFA_COOLIFY_URL is not set): nothing was sent to Coolify")
    assert " 3. POST /projects   [not sent]" in out
    assert "Rendered compose" in out and "cf.tenant: acme" in out


def test_params_from_files(cfa: Cfa, tmp_path: object) -> None:
    """KEY=@FILE reads a secret from a file, so it never appears on the command line."""
    from pathlib import Path

    secret_file = Path(str(tmp_path)) / "token"
    secret_file.write_text(TOKEN + "\n")
    cfa("pb", "migrate")
    cfa("tenants", "create", "acme", "--plan", "starter")
    code, out, _ = cfa(
        "provision",
        "acme",
        "telegram-bot",
        "--param",
        f"telegram_token=@{secret_file}",
        "--param",
        f"router_api_key={KEY}",
        "--json",
    )
    assert code == 0 and json.loads(out)["dry_run"] is True
    code, _, err = cfa("provision", "acme", "telegram-bot", "--param", "telegram_token=@/nonexistent/file")
    assert code == 2 and "cannot read /nonexistent/file" in err


def test_templates_commands(cfa: Cfa) -> None:
    """templates list/show/render work without Coolify; render takes --plan without a tenant record."""
    code, out, _ = cfa("templates", "list")
    assert code == 0 and "telegram-bot" in out
    code, out, _ = cfa("templates", "show", "telegram-bot", "--json")
    assert json.loads(out)["plan_minimum"] == "starter"
    code, out, _ = cfa("templates", "render", "telegram-bot", "--tenant", "acme", "--plan", "team")
    assert code == 0 and "cpus: 0.5" in out and "cf.plan: team" in out
    code, _, err = cfa("templates", "show", "wordpress")
    assert code == 3 and "available templates: " in err


def test_templates_render_says_which_compose_loaded_it(cfa: Cfa, compose_loader: ComposeLoader) -> None:
    """The render went through Docker Compose v2's loader, and stderr says which one."""
    code, out, err = cfa(
        "templates", "render", "llm-workspace", "--tenant", "acme", "--plan", "team",
        "--param", "admin_email=ops@example.com", "--param", "gateway=litellm",
    )  # fmt: skip
    assert code == 0 and "litellm:" in out, err
    assert f"loaded by {compose_loader.label}" in err
    code, out, _ = cfa("templates", "render", "telegram-bot", "--tenant", "acme", "--plan", "team", "--json")
    assert json.loads(out)["compose_loader"] == compose_loader.label


def test_templates_render_says_when_no_compose_checked_it(
    cfa: Cfa, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Without any Compose v2 the render still works, and says plainly that Compose did not load it."""
    hide_compose(monkeypatch, tmp_path)
    code, out, err = cfa("templates", "render", "telegram-bot", "--tenant", "acme", "--plan", "team")
    assert code == 0 and "bot:" in out
    assert "NOT loaded by Docker Compose: no Compose v2 found (set CFA_COMPOSE_BINARY" in err


def test_a_compose_binary_that_is_not_compose_is_a_configuration_error(
    cfa: Cfa, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CFA_COMPOSE_BINARY pointing at something else fails with exit 6 and says what to do."""
    monkeypatch.setenv("CFA_COMPOSE_BINARY", "/bin/true")
    code, _, err = cfa("templates", "render", "telegram-bot", "--tenant", "acme", "--plan", "team")
    assert code == 6
    assert "CFA_COMPOSE_BINARY=/bin/true is not a Docker Compose v2 binary" in err
    assert "scripts/compose-v2 fetches one" in err


def test_doctor_reports_each_dependency(
    cfa: Cfa, served_coolify: tuple[FakeCoolify, str], compose_loader: ComposeLoader
) -> None:
    """doctor checks PocketBase, Coolify, abilities, server, Compose and templates; its probes change
    nothing."""
    fake, url = served_coolify
    code, out, _ = cfa("doctor", "--json", coolify=url)
    checks = {c["name"]: c["outcome"] for c in json.loads(out)}
    assert code == 0, out
    wanted = ["pocketbase schema", "coolify", "coolify ability read", "coolify ability write"]
    wanted += ["coolify ability deploy", "coolify server", "compose", "templates"]
    assert {name: checks[name] for name in wanted} == dict.fromkeys(wanted, "ok")
    assert fake.write_calls and all(c.status in (404, 422) for c in fake.write_calls)
    assert fake.state.projects == {}


def test_doctor_sends_you_to_migrate(cfa_unmigrated: Cfa) -> None:
    """On an unmigrated PocketBase, doctor fails the schema check and says to run cfa pb migrate."""
    code, out, _ = cfa_unmigrated("doctor", "--json")
    checks = {c["name"]: c for c in json.loads(out)}
    assert code == 6
    assert checks["pocketbase schema"]["advice"] == "run cfa pb migrate"
    assert checks["coolify"]["outcome"] == "warn"


def test_doctor_names_a_missing_ability(cfa: Cfa, served_coolify: tuple[FakeCoolify, str]) -> None:
    """A read-only token fails the write and deploy probes, with advice."""
    fake, url = served_coolify
    fake.tokens[next(iter(fake.tokens))] = frozenset({"read"})
    cfa("pb", "migrate")
    code, out, _ = cfa("doctor", "--json", coolify=url)
    checks = {c["name"]: c for c in json.loads(out)}
    assert code == 6
    assert checks["coolify ability write"]["outcome"] == "fail"
    assert "write" in checks["coolify ability write"]["advice"]
    assert checks["coolify ability deploy"]["outcome"] == "fail"


def test_monitor_commands_are_reachable_through_cfa(cfa: Cfa) -> None:
    """`cfa monitor ...` hands everything, --help included, to the monitor's own command line."""
    assert cfa("tenants", "create", "acme", "--plan", "starter")[0] == 0
    code, out, _ = cfa("monitor", "silence", "--tenant", "acme", "--for", "1h", "--reason", "upgrade")
    assert code == 0 and "tenant acme" in out
    code, out, _ = cfa("monitor", "silences")
    assert code == 0 and "upgrade" in out
