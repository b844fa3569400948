"""The real ``cfa`` entry point, configured through CFA_* variables like an operator would."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from functions.cli.main import main
from shared.pocketbase.embedded import PocketBaseServer
from shared.settings import REPO_ROOT
from tests.fakes.coolify import DEFAULT_TOKEN, FakeCoolify

Cfa = Callable[..., tuple[int, str, str]]


@pytest.fixture
def served_coolify() -> Iterator[tuple[FakeCoolify, str]]:
    """The fake Coolify on a real loopback socket (the CLI builds its own HTTP client)."""
    fake = FakeCoolify(seed=11)
    with fake.serve() as root_url:
        yield fake, root_url
    fake.assert_no_spec_violations()


def cfa_environment(
    pocketbase: PocketBaseServer, data_dir: str, coolify: str | None = None
) -> dict[str, str]:
    """The CFA_* variables of an operator's shell for this test's PocketBase (and Coolify)."""
    env = {
        "CFA_POCKETBASE_URL": pocketbase.url,
        "CFA_POCKETBASE_EMAIL": pocketbase.email,
        "CFA_POCKETBASE_PASSWORD": pocketbase.password.get_secret_value(),
        "CFA_ROUTER_URL": "https://router.example.com/v1",
        "CFA_BASE_DOMAIN": "agents.example.com",
        "CFA_POLL_INTERVAL_SECONDS": "0.05",
        "CFA_PROVISION_WAIT_SECONDS": "20",
        "CFA_DATA_DIR": data_dir,
        "CFA_ACTOR": "cli-test",
    }
    if coolify is not None:
        env |= {"CFA_COOLIFY_URL": coolify, "CFA_COOLIFY_TOKEN": DEFAULT_TOKEN}
    return env


def _runner(
    pocketbase: PocketBaseServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Cfa:
    env = cfa_environment(pocketbase, str(tmp_path_factory.mktemp("cfa-data")))
    for key, value in env.items():
        monkeypatch.setenv(key, value)

    def run(*args: str, coolify: str | None = None) -> tuple[int, str, str]:
        if coolify is not None:
            monkeypatch.setenv("CFA_COOLIFY_URL", coolify)
            monkeypatch.setenv("CFA_COOLIFY_TOKEN", DEFAULT_TOKEN)
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def cfa(
    pocketbase: PocketBaseServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Cfa:
    """Run ``cfa ARGS`` in-process against a migrated PocketBase; returns (exit code, stdout, stderr)."""
    return _runner(pocketbase, monkeypatch, capsys, tmp_path_factory)


@pytest.fixture
def cfa_unmigrated(
    pocketbase_empty: PocketBaseServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Cfa:
    """``cfa`` against a PocketBase that has never been migrated."""
    return _runner(pocketbase_empty, monkeypatch, capsys, tmp_path_factory)


class CfaProcess:
    """``cfa`` as a real subprocess (``python -m functions.cli.main``), for signals and pipes."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "functions.cli.main", *args]

    def environ(self, **extra: str) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith("CFA_")}
        return {**base, **self.env, **extra}

    def start(self, *args: str, **extra: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.command(*args),
            env=self.environ(**extra),
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(self, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args),
            env=self.environ(**extra),
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


@pytest.fixture
def cfa_process(
    pocketbase: PocketBaseServer, served_coolify: tuple[FakeCoolify, str], tmp_path: Path
) -> CfaProcess:
    """A subprocess runner wired to this test's PocketBase and the served fake Coolify."""
    _, url = served_coolify
    return CfaProcess(cfa_environment(pocketbase, str(tmp_path / "cfa-data"), url))
