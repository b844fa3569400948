"""Docker Compose v2's own loader as a check of every rendered compose (``docker compose config -q``).

Coolify sends a stack to ``docker compose up`` on the host without ever running Compose's loader first
(only the UI's "validate" button does), so a compose that Compose refuses is accepted by the API and
only fails at start. The JSON schema cannot see such problems (e.g. Compose >= 2.26 refusing
``pids_limit`` next to a ``deploy.resources.limits`` block); the loader can, and it costs ~30 ms.

Variables the compose references (``${NAME}``) are set to a fixed dummy value, never a real secret,
and the loader runs with no other environment, so an operator's shell cannot change the outcome.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from shared.errors import ConfigurationError
from shared.logging import get_logger

log = get_logger()

DUMMY_VALUE = "cfa-compose-check-dummy"  # what every referenced variable is set to: never a secret
_REFERENCE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")
_PLUGIN_DIRS = (
    "~/.docker/cli-plugins",
    "/usr/local/lib/docker/cli-plugins",
    "/usr/local/libexec/docker/cli-plugins",
    "/usr/lib/docker/cli-plugins",
    "/usr/libexec/docker/cli-plugins",
)


@dataclass(frozen=True)
class ComposeLoader:
    """A Compose v2 binary (standalone ``docker-compose`` or the CLI plugin; both run standalone)."""

    binary: Path
    version: str

    @property
    def label(self) -> str:
        return f"Docker Compose v{self.version}"

    def problems(self, compose_yaml: str) -> list[str]:
        """What Compose's loader refuses in ``compose_yaml``; empty when it loads. Cached by content.

        Blocks for the run of the binary (~30 ms): an event loop calls :meth:`check` instead."""
        digest = hashlib.sha256(compose_yaml.encode()).hexdigest()
        if digest not in _VERDICTS:
            with tempfile.TemporaryDirectory(prefix="cfa-compose-check-") as directory:
                command, env = _command(str(self.binary), directory, compose_yaml)
                try:
                    result = subprocess.run(
                        command, env=env, capture_output=True, text=True, timeout=60, check=False
                    )
                    verdict = _verdict(result.returncode, result.stderr)
                except (OSError, subprocess.TimeoutExpired) as err:
                    verdict = (f"docker compose config could not run: {err}",)
            _remember(digest, verdict)
        return list(_VERDICTS[digest])

    async def check(self, compose_yaml: str) -> list[str]:
        """:meth:`problems` without blocking the event loop (an asyncio subprocess)."""
        digest = hashlib.sha256(compose_yaml.encode()).hexdigest()
        if digest not in _VERDICTS:
            with tempfile.TemporaryDirectory(prefix="cfa-compose-check-") as directory:
                command, env = _command(str(self.binary), directory, compose_yaml)
                try:
                    process = await asyncio.create_subprocess_exec(
                        *command, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
                    )
                    _, stderr = await asyncio.wait_for(process.communicate(), 60)
                    verdict = _verdict(process.returncode or 0, stderr.decode(errors="replace"))
                except (OSError, TimeoutError) as err:
                    verdict = (f"docker compose config could not run: {err}",)
            _remember(digest, verdict)
        return list(_VERDICTS[digest])


def referenced_variables(compose_yaml: str) -> set[str]:
    """Names of the variables Compose would interpolate (``$$`` is an escaped dollar, not a reference)."""
    return set(_REFERENCE.findall(compose_yaml.replace("$$", "")))


_VERDICTS: OrderedDict[str, tuple[str, ...]] = OrderedDict()
_VERDICTS_KEPT = 512


def _remember(digest: str, verdict: tuple[str, ...]) -> None:
    _VERDICTS[digest] = verdict
    while len(_VERDICTS) > _VERDICTS_KEPT:
        _VERDICTS.popitem(last=False)


def _command(binary: str, directory: str, compose_yaml: str) -> tuple[list[str], dict[str, str]]:
    """The ``config -q`` command for ``compose_yaml`` written into ``directory``, and its environment:
    every referenced variable set to the dummy, nothing from ours."""
    path = Path(directory) / "compose.yml"
    path.write_text(compose_yaml)
    env = dict.fromkeys(sorted(referenced_variables(compose_yaml)), DUMMY_VALUE)
    env["HOME"] = directory
    return [binary, "--project-directory", directory, "-p", "cfa-check", "-f", str(path), "config", "-q"], env


def _verdict(returncode: int, stderr: str) -> tuple[str, ...]:
    if returncode == 0:
        return ()
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if "level=warning" not in line] or lines
    return tuple(f"docker compose: {line}" for line in errors) or (
        f"docker compose config exited with {returncode}",
    )


def find_compose(configured: Path | None = None) -> ComposeLoader | None:
    """The configured binary (CFA_COMPOSE_BINARY; an unusable one is a ConfigurationError), else the
    first Compose v2 found as ``docker-compose`` on PATH, in Docker's cli-plugins directories or in
    the cache ``scripts/compose-v2`` fills; None when there is none."""
    if configured is not None:
        loader = _probe(str(configured))
        if loader is None:
            raise ConfigurationError(
                f"CFA_COMPOSE_BINARY={configured} is not a Docker Compose v2 binary",
                advice="point it at docker-compose v2 (scripts/compose-v2 fetches one), or unset it",
            )
        return loader
    for candidate in _candidates():
        loader = _probe(candidate)
        if loader is not None:
            return loader
    return None


def _candidates() -> list[str]:
    found = []
    on_path = shutil.which("docker-compose")
    if on_path:
        found.append(on_path)
    docker_config = os.environ.get("DOCKER_CONFIG")
    dirs = [f"{docker_config}/cli-plugins"] if docker_config else []
    for directory in [*dirs, *_PLUGIN_DIRS]:
        found.append(str(Path(directory).expanduser() / "docker-compose"))
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cfa" / "compose"
    found.extend(str(p) for p in sorted(cache.glob("*/docker-compose"), reverse=True))
    return found


@lru_cache(maxsize=16)
def _probe(binary: str) -> ComposeLoader | None:
    if not os.access(binary, os.X_OK):
        return None
    try:
        result = subprocess.run(
            [binary, "version", "--short"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    version = result.stdout.strip().removeprefix("v")
    if result.returncode != 0 or not version.split(".")[0].isdigit() or int(version.split(".")[0]) < 2:
        return None  # Compose v1 (Python) is not what Coolify runs
    return ComposeLoader(Path(binary), version)
