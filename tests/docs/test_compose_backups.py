"""compose.backups.yml (backups switched on) loads together with compose.yml, and only it gives the
event functions the Docker socket."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

from shared.compose_loader import ComposeLoader
from shared.settings import REPO_ROOT


def _required() -> set[str]:
    text = (REPO_ROOT / "compose.yml").read_text() + (REPO_ROOT / "compose.backups.yml").read_text()
    return set(re.findall(r"\$\{([A-Z_]+):\?", text))


def test_compose_v2_loads_it_over_compose_yml(compose_loader: ComposeLoader, tmp_path: Path) -> None:
    """`docker compose -f compose.yml -f compose.backups.yml config` accepts it; the merged functions
    service keeps its hardening and gets the socket, the repository volume and the backup settings."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        # Every variable the two files require (${X:?…}), whatever they are.
        **{name: "x" for name in sorted(_required())},
        "DOCKER_GID": "999",
    }
    result = subprocess.run(
        [
            str(compose_loader.binary),
            "-f",
            str(REPO_ROOT / "compose.yml"),
            "-f",
            str(REPO_ROOT / "compose.backups.yml"),
            "config",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    functions = yaml.safe_load(result.stdout)["services"]["functions"]
    assert functions["read_only"] is True and functions["cap_drop"] == ["ALL"]
    assert functions["user"] == "10010:10010" and functions["group_add"] == ["999"]
    mounts = {m["target"]: m["source"] for m in functions["volumes"]}
    assert mounts["/var/run/docker.sock"] == "/var/run/docker.sock" and "/backups" in mounts
    assert functions["environment"]["CFA_BACKUP_REPOSITORY"] == "/backups/restic"
    assert functions["command"] == ["cfa", "serve"]
