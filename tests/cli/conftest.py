"""The real ``cfa`` entry point, configured through CFA_* variables like an operator would."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from functions.cli.main import main
from shared.pocketbase.embedded import PocketBaseServer
from tests.fakes.coolify import DEFAULT_TOKEN, FakeCoolify

Cfa = Callable[..., tuple[int, str, str]]


@pytest.fixture
def served_coolify() -> Iterator[tuple[FakeCoolify, str]]:
    """The fake Coolify on a real loopback socket (the CLI builds its own HTTP client)."""
    fake = FakeCoolify(seed=11)
    with fake.serve() as root_url:
        yield fake, root_url
    fake.assert_no_spec_violations()


def _runner(
    pocketbase: PocketBaseServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Cfa:
    env = {
        "CFA_POCKETBASE_URL": pocketbase.url,
        "CFA_POCKETBASE_EMAIL": pocketbase.email,
        "CFA_POCKETBASE_PASSWORD": pocketbase.password.get_secret_value(),
        "CFA_ROUTER_URL": "https://router.example.com/v1",
        "CFA_BASE_DOMAIN": "agents.example.com",
        "CFA_POLL_INTERVAL_SECONDS": "0.05",
        "CFA_PROVISION_WAIT_SECONDS": "20",
        "CFA_DATA_DIR": str(tmp_path_factory.mktemp("cfa-data")),
        "CFA_ACTOR": "cli-test",
    }
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
