"""What the backup tests share: a restic repository per test (initialised once per session: restic's
init calibrates its key derivation, which takes seconds), a team tenant with a stateful stack whose
volume exists on the real Docker engine, and a way to read a volume's files back."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import SecretStr

from functions.context import Context
from functions.operations.provision import ProvisionRequest, provision
from functions.operations.tenants import create_tenant
from tests.cli.conftest import cfa
from tests.docker_fixture import DockerEngine
from tests.functions.conftest import ROUTER_KEY, ContextFactory

PASSWORD = "restic-password-for-the-tests-0417"
VOLUME = "openclaw-home"

__all__ = ["cfa"]  # `cfa ARGS` in-process, as in tests/cli


@pytest.fixture(scope="session")
def _restic_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    binary = shutil.which("restic")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("restic is required when CI is set (apt-get install restic)")
        pytest.skip("restic is not installed (apt-get install restic)")
    repository = tmp_path_factory.mktemp("restic-template") / "repo"
    subprocess.run(
        [binary, "--no-cache", "init"],
        env={"RESTIC_REPOSITORY": str(repository), "RESTIC_PASSWORD": PASSWORD, "PATH": "/usr/bin:/bin"},
        check=True,
        capture_output=True,
    )
    return repository


@pytest.fixture
def restic_repo(_restic_template: Path, tmp_path: Path) -> Path:
    """A fresh, initialised local repository of this test's own (password ``PASSWORD``)."""
    repository = tmp_path / "restic"
    shutil.copytree(_restic_template, repository)
    return repository


def backup_settings(repository: Path, engine: DockerEngine, **extra: object) -> dict[str, object]:
    return {
        "backup_repository": str(repository),
        "backup_password": SecretStr(PASSWORD),
        "docker_url": engine.url,
        "backup_helper_image": engine.image,
        **extra,
    }


@dataclass
class StatefulStack:
    tenant: str
    stack: str
    service_uuid: str
    volume: str  # its Docker volume


async def provision_stateful(ctx: Context, engine: DockerEngine, tenant: str = "globex") -> StatefulStack:
    """A team tenant with an openclaw-agent stack, running in the fake Coolify, and the named volume
    Coolify's compose would have made for it on the real engine."""
    await create_tenant(ctx, tenant, plan="team", name="Globex")
    request = ProvisionRequest(
        tenant=tenant, template="openclaw-agent", stack="agent", params={"router_api_key": ROUTER_KEY}
    )
    result = await provision(ctx, request)
    assert result.status == "running"
    volume = engine.volume(
        f"{result.service_uuid}_{VOLUME}",
        labels={"com.docker.compose.project": result.service_uuid, "com.docker.compose.volume": VOLUME},
    )
    return StatefulStack(tenant, "agent", result.service_uuid, volume)


def fingerprint(engine: DockerEngine, volume: str) -> str:
    """Every file's path, owner, mode and checksum, every symlink's target (as the volume has them)."""
    code, out = engine.sh(
        "cd /v && find . | sort | while read -r p; do "
        'if [ -L "$p" ]; then echo "$p -> $(readlink "$p")"; '
        'elif [ -f "$p" ]; then echo "$p $(stat -c %u:%g:%a "$p") $(md5sum < "$p")"; '
        'else echo "$p $(stat -c %u:%g:%a "$p")"; fi; done',
        {volume: {"bind": "/v", "mode": "ro"}},
    )
    assert code == 0, out
    return out


def factory_for(
    make_ctx: ContextFactory, repository: Path, engine: DockerEngine, **settings: object
) -> ContextFactory:
    """make_ctx with the backup settings (and ``settings``) filled in."""

    def make(**overrides: object) -> Context:
        return make_ctx(**{**backup_settings(repository, engine), **settings, **overrides})

    return make
