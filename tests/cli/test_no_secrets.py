"""No secret value ever appears in logs (stderr, JSON, DEBUG level) or in any output, dry-run included."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from shared.pocketbase.embedded import PocketBaseServer
from shared.settings import REPO_ROOT
from tests.cli.conftest import Cfa
from tests.fakes.coolify import DEFAULT_TOKEN, FakeCoolify
from tests.shared.template_factory import make_template

TOKEN = "123456789:AAsecretsecretsecretsecretsecret77"
KEY = "sk-router-secret-never-shown-0042"


def test_no_secret_in_any_output(
    cfa: Cfa,
    served_coolify: tuple[FakeCoolify, str],
    pocketbase: PocketBaseServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """Provision (real, dry-run, failing), status and audit at DEBUG: no secret shows anywhere."""
    fake, url = served_coolify
    templates = tmp_path / "templates"
    shutil.copytree(REPO_ROOT / "templates", templates, ignore=shutil.ignore_patterns("app"))
    make_template(templates)  # "probe": has a secret parameter and a generated secret
    monkeypatch.setenv("CFA_TEMPLATES_DIR", str(templates))
    monkeypatch.setenv("CFA_LOG_LEVEL", "DEBUG")
    outputs: list[str] = []

    def run(*args: str, coolify: str | None = None) -> int:
        code, out, err = cfa(*args, coolify=coolify)
        outputs.extend([out, err])
        return code

    run("pb", "migrate")
    run("tenants", "create", "acme", "--plan", "team")
    bot = ["--param", f"telegram_token={TOKEN}", "--param", f"router_api_key={KEY}"]
    assert (
        run("provision", "acme", "telegram-bot", "--name", "bot", *bot, "--dry-run", "--json", coolify=url)
        == 0
    )
    assert run("provision", "acme", "telegram-bot", "--name", "bot", *bot) == 0
    assert run("provision", "acme", "probe", "--param", f"token={KEY}x", "--dry-run") == 0
    assert run("provision", "acme", "probe", "--param", f"token={KEY}x") == 0
    fake.inject("PATCH", r"/envs/bulk$", "error_500_before", times=None)
    rotated = TOKEN.replace("77", "88")
    assert (
        run("provision", "acme", "telegram-bot", "--name", "bot", "--param", f"telegram_token={rotated}")
        == 75
    )
    assert run("status", "acme", "--json") == 0
    assert run("audit", "acme", "--json") == 0

    generated = [
        v
        for s in fake.state.services.values()
        for k, v in fake.env_values(s.uuid).items()
        if k == "PROBE_KEY" and v
    ]
    assert generated
    text = "\n".join(outputs)
    assert "provision.service_created" in text  # the logs really were captured
    for secret in [
        TOKEN,
        rotated,
        KEY,
        KEY + "x",
        DEFAULT_TOKEN,
        pocketbase.password.get_secret_value(),
        *generated,
    ]:
        assert secret and secret not in text, f"a secret leaked: {secret[:6]}..."
