"""Finding Docker Compose v2, and what its loader says about a compose file."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.compose_loader import ComposeLoader, find_compose
from shared.errors import ConfigurationError
from tests.conftest import hide_compose


def test_the_configured_binary_is_used(compose_loader: ComposeLoader) -> None:
    """CFA_COMPOSE_BINARY names the binary; its version is read from it."""
    found = find_compose(compose_loader.binary)
    assert found == compose_loader and found.version.startswith("2.")


def test_a_configured_binary_that_is_not_compose_v2_is_refused(tmp_path: Path) -> None:
    """Anything that does not answer like Compose v2 is a configuration error, not a silent skip."""
    fake = tmp_path / "docker-compose"
    fake.write_text("#!/bin/sh\necho 1.29.2\n")
    fake.chmod(0o755)
    for binary in (fake, tmp_path / "missing"):
        with pytest.raises(ConfigurationError, match="is not a Docker Compose v2 binary"):
            find_compose(binary)


def test_none_is_found_on_a_machine_without_compose(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Nothing configured and nothing installed: None (callers then say the check was skipped)."""
    hide_compose(monkeypatch, tmp_path)
    assert find_compose(None) is None


def test_compose_is_found_in_docker_cli_plugins(
    compose_loader: ComposeLoader, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The CLI plugin under $DOCKER_CONFIG/cli-plugins counts (it also runs standalone)."""
    hide_compose(monkeypatch, tmp_path)
    plugins = tmp_path / "docker" / "cli-plugins"
    plugins.mkdir(parents=True)
    (plugins / "docker-compose").symlink_to(compose_loader.binary)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    found = find_compose(None)
    assert found is not None and found.version == compose_loader.version


def test_the_loader_reports_what_compose_refuses(compose_loader: ComposeLoader) -> None:
    """A broken file gives Compose's own message; a good one gives nothing."""
    good = 'services:\n  app:\n    image: "busybox:1.36"\n    environment:\n      KEY: "${KEY:?}"\n'
    assert compose_loader.problems(good) == []
    bad = "services:\n  app:\n    image: busybox:1.36\n    pids_limit: 10\n    deploy:\n      resources:\n"
    bad += "        limits:\n          memory: 64M\n"
    problems = compose_loader.problems(bad)
    assert problems and all(p.startswith("docker compose: ") for p in problems)
    assert "pids_limit" in problems[0]
