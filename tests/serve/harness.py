"""``cfa serve`` as a real subprocess against a real PocketBase and the fake Coolify on loopback,
driven only through PocketBase's REST API (as CloudFreedom's tenant management would)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from shared.pocketbase.embedded import PocketBaseServer, free_port
from shared.settings import REPO_ROOT
from tests.fakes.coolify import DEFAULT_TOKEN
from tests.monitor.support import wait_until

WEBHOOK_TOKEN = "test-webhook-token-0123456789abcdef"
TELEGRAM = "123456789:AAservetokenservetokenservetokenser"
ROUTER_KEY = "sk-serve-router-key-000000001"


class PB:
    """A superuser's (or a user's) view of PocketBase's REST API."""

    def __init__(self, url: str, email: str, password: str, collection: str = "_superusers") -> None:
        self.http = httpx.Client(base_url=url, timeout=10)
        self.collection = collection
        self.email, self.password = email, password
        self.token = ""
        self.login()

    @classmethod
    def superuser(cls, server: PocketBaseServer) -> PB:
        return cls(server.url, server.email, server.password.get_secret_value())

    def close(self) -> None:
        self.http.close()

    def login(self) -> None:
        answer = self.http.post(
            f"/api/collections/{self.collection}/auth-with-password",
            json={"identity": self.email, "password": self.password},
        )
        answer.raise_for_status()
        self.token = answer.json()["token"]

    def _headers(self) -> dict[str, str]:
        return {"Authorization": self.token}

    def create(self, collection: str, data: dict[str, Any]) -> dict[str, Any]:
        answer = self.http.post(f"/api/collections/{collection}/records", json=data, headers=self._headers())
        answer.raise_for_status()
        record: dict[str, Any] = answer.json()
        return record

    def update(self, collection: str, record_id: str, data: dict[str, Any]) -> dict[str, Any]:
        answer = self.http.patch(
            f"/api/collections/{collection}/records/{record_id}", json=data, headers=self._headers()
        )
        answer.raise_for_status()
        record: dict[str, Any] = answer.json()
        return record

    def records(self, collection: str, filter: str = "") -> list[dict[str, Any]]:
        params: dict[str, str | int] = {"perPage": 1000}
        if filter:
            params["filter"] = filter
        answer = self.http.get(
            f"/api/collections/{collection}/records", params=params, headers=self._headers()
        )
        answer.raise_for_status()
        items: list[dict[str, Any]] = answer.json()["items"]
        return items

    def get(self, collection: str, record_id: str) -> dict[str, Any]:
        answer = self.http.get(f"/api/collections/{collection}/records/{record_id}", headers=self._headers())
        answer.raise_for_status()
        record: dict[str, Any] = answer.json()
        return record

    def stack(self, tenant_id: str, name: str) -> dict[str, Any] | None:
        found = self.records("stacks", f"tenant = '{tenant_id}' && name = '{name}'")
        return found[0] if found else None

    def audit(self, action: str = "") -> list[dict[str, Any]]:
        return self.records("audit_events", f"action = '{action}'" if action else "")


def tenant_record(slug: str, plan: str = "starter", **extra: Any) -> dict[str, Any]:
    return {"slug": slug, "name": slug.title(), "plan": plan, "status": "active", **extra}


def bot_request(name: str = "bot", **params: Any) -> dict[str, Any]:
    return {
        "template": "telegram-bot",
        "name": name,
        "params": {"telegram_token": TELEGRAM, "router_api_key": ROUTER_KEY, **params},
    }


class Serve:
    """One ``cfa serve`` process; ``stop()`` sends SIGTERM and returns its exit code."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.port = int(env["CFA_SERVE_PORT"])
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = log_path.open("ab")
        base = {k: v for k, v in os.environ.items() if not k.startswith("CFA_")}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "functions.cli.main", "serve"],
            env={**base, **env},
            cwd=REPO_ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def ready(self, timeout: float = 60.0) -> Serve:
        def answers() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"cfa serve exited with {self.process.returncode}:\n{self.log()[-3000:]}"
                )
            try:
                return httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(answers, timeout=timeout, what="cfa serve to be ready")
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def events(self) -> list[dict[str, Any]]:
        lines = []
        for line in self.log().splitlines():
            if line.startswith("{"):
                try:
                    lines.append(json.loads(line))
                except ValueError:
                    continue
        return lines

    def stop(self, timeout: float = 60.0) -> int:
        if self.process.poll() is None:
            self.process.terminate()
        code = self.process.wait(timeout=timeout)
        self._log.close()
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)
        self._log.close()


def serve_env(pocketbase: PocketBaseServer, coolify_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {
        "CFA_POCKETBASE_URL": pocketbase.url,
        "CFA_POCKETBASE_EMAIL": pocketbase.email,
        "CFA_POCKETBASE_PASSWORD": pocketbase.password.get_secret_value(),
        "CFA_COOLIFY_URL": coolify_url,
        "CFA_COOLIFY_TOKEN": DEFAULT_TOKEN,
        "CFA_ROUTER_URL": "https://router.example.com/v1",
        "CFA_BASE_DOMAIN": "agents.example.com",
        "CFA_DATA_DIR": str(data_dir),
        "CFA_SERVE_PORT": str(free_port()),
        "CFA_WEBHOOK_TOKEN": WEBHOOK_TOKEN,
        "CFA_POLL_INTERVAL_SECONDS": "0.2",
        "CFA_STATUS_POLL_SECONDS": "0.3",
        "CFA_RECONCILE_INTERVAL_SECONDS": "3600",
        "CFA_REALTIME_PROBE_SECONDS": "30",
        "CFA_PROVISION_WAIT_SECONDS": "30",
        "CFA_LOG_LEVEL": "DEBUG",
    }
    if os.environ.get("CFA_COMPOSE_BINARY"):
        env["CFA_COMPOSE_BINARY"] = os.environ["CFA_COMPOSE_BINARY"]
    return {**env, **extra}
