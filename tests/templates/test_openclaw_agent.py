"""The openclaw-agent template: what it renders, the init script it runs, and what it refuses."""

from __future__ import annotations

import http.server
import io
import json
import os
import re
import shutil
import socket
import subprocess
import tarfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from functions.operations.provision import ProvisionRequest, provision
from functions.operations.status import status
from functions.operations.tenants import create_tenant
from shared.catalog import parse_size
from shared.errors import InvalidInput
from shared.params import ROLLING_TAGS, validate_params
from shared.plans import PLAN_ORDER
from shared.rendering import RenderedStack
from tests.fakes.coolify import FakeCoolify
from tests.functions.conftest import ROUTER_KEY, ContextFactory
from tests.templates.coolify_deploy import from_b64_json
from tests.templates.support import ROUTER_URL, as_container_sees, env, env_b64json, render, service, template

NAME = "openclaw-agent"
PLANS = PLAN_ORDER[PLAN_ORDER.index(template(NAME).meta.plan_minimum) :]
PUBLIC = "https://agent-acme.agents.example.com"
NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed here")


def config(rendered: RenderedStack) -> dict[str, Any]:
    """The managed part of openclaw.json, as the init container receives it."""
    value = env_b64json(rendered, "openclaw-init", "CF_OPENCLAW_CONFIG_B64")
    assert isinstance(value, dict)
    return value


@pytest.mark.parametrize("plan", PLANS)
def test_heap_is_three_quarters_of_the_memory_limit(plan: str) -> None:
    """NODE_OPTIONS caps V8's heap at 75% of the plan's memory limit (V8 ignores the cgroup limit)."""
    rendered = render(NAME, plan=plan)
    limit_mib = parse_size(template(NAME).profile(plan).services["openclaw"].memory) >> 20
    match = re.fullmatch(r"--max-old-space-size=(\d+)", env(rendered, "openclaw")["NODE_OPTIONS"])
    assert match is not None
    assert int(match.group(1)) == limit_mib * 3 // 4
    init_limit = parse_size(template(NAME).profile(plan).services["openclaw-init"].memory) >> 20
    init_heap = re.fullmatch(r"--max-old-space-size=(\d+)", env(rendered, "openclaw-init")["NODE_OPTIONS"])
    assert init_heap is not None and int(init_heap.group(1)) < init_limit


def test_profiles_stay_in_the_issued_envelope() -> None:
    """0.5-1 CPU and 512 MiB-1 GiB for the gateway, a state volume budget of 1-2 GiB, on every plan."""
    for plan in PLANS:
        profile = template(NAME).profile(plan)
        gateway = profile.services["openclaw"]
        assert 0.5 <= gateway.cpus <= 1.0
        assert 512 << 20 <= gateway.memory_bytes <= 1 << 30
        assert 1 << 30 <= profile.volume_budget_bytes <= 2 << 30
    assert template(NAME).meta.plan_minimum == "starter"


def test_gateway_and_hooks_tokens_are_separate_generated_secrets() -> None:
    """Two generated tokens: the gateway's and the hooks', each referenced only where it belongs."""
    secrets = {s.env: s for s in template(NAME).meta.secrets}
    assert set(secrets) == {"OPENCLAW_GATEWAY_TOKEN", "OPENCLAW_HOOKS_TOKEN"}
    assert all(s.kind == "token" and s.length >= 32 and s.credential for s in secrets.values())
    rendered = render(NAME, plan="team")
    gateway_env = env(rendered, "openclaw")
    assert gateway_env["OPENCLAW_GATEWAY_TOKEN"] == "${OPENCLAW_GATEWAY_TOKEN}"
    assert gateway_env["OPENCLAW_HOOKS_TOKEN"] == "${OPENCLAW_HOOKS_TOKEN}"
    hooks = config(rendered)["hooks"]
    assert hooks["token"] == "${OPENCLAW_HOOKS_TOKEN}"
    assert "OPENCLAW_GATEWAY_TOKEN" not in json.dumps(config(rendered))


def test_hooks_are_public_over_https_only_through_the_coolify_url() -> None:
    """The gateway port is routed by a https:// Coolify URL, no port is published, hooks live at /hooks."""
    rendered = render(NAME, plan="starter")
    assert [(u.name, u.url) for u in rendered.urls] == [("openclaw", f"{PUBLIC}:18789")]
    assert rendered.fqdn == PUBLIC
    for name in ("openclaw", "openclaw-init"):
        assert "ports" not in service(rendered, name) and "expose" not in service(rendered, name)
        assert not any(k.startswith(("SERVICE_URL_", "SERVICE_FQDN_")) for k in env(rendered, name))
    settings = config(rendered)
    assert settings["hooks"]["enabled"] is True and settings["hooks"]["path"] == "/hooks"
    assert settings["hooks"]["allowRequestSessionKey"] is False
    assert settings["gateway"]["controlUi"]["allowedOrigins"] == [PUBLIC]
    assert settings["gateway"]["auth"] == {"mode": "token"}
    assert settings["gateway"]["trustedProxies"] == ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]


def test_gateway_runs_as_node_bound_to_the_lan_with_the_official_pinned_image() -> None:
    """Official image pinned to a version tag, `gateway --bind lan --port 18789`, uid 1000, read-only."""
    rendered = render(NAME, plan="team")
    gateway = service(rendered, "openclaw")
    image = gateway["image"]
    repository, tag = image.rsplit(":", 1)
    assert repository == "ghcr.io/openclaw/openclaw"
    assert tag not in ROLLING_TAGS and re.fullmatch(r"20\d\d\.\d+\.\d+", tag)
    assert gateway["command"][-5:] == ["gateway", "--bind", "lan", "--port", "18789"]
    assert gateway["user"] == "1000:1000" and gateway["read_only"] is True
    assert service(rendered, "openclaw-init")["image"] == image


def test_model_provider_is_the_tenants_router() -> None:
    """models.providers.router points at the Router's OpenAI-compatible URL with the tenant's key."""
    rendered = render(NAME, plan="team", params={"model": "gpt-4.1-mini", "context_window": 64000})
    router = config(rendered)["models"]["providers"]["router"]
    assert (router["baseUrl"], router["apiKey"], router["api"]) == (
        ROUTER_URL,
        "${ROUTER_API_KEY}",
        "openai-completions",
    )
    assert router["models"] == [
        {"id": "gpt-4.1-mini", "name": "gpt-4.1-mini", "contextWindow": 64000, "maxTokens": 8192}
    ]
    assert config(rendered)["agents"]["defaults"]["model"]["primary"] == "router/gpt-4.1-mini"
    assert env(rendered, "openclaw")["ROUTER_API_KEY"] == "${ROUTER_API_KEY}"


def test_schedules_reach_the_init_service_as_given() -> None:
    """Each cron schedule with its prompt (a $ included) and the time zone is handed to the seeding step."""
    schedules = [
        {"name": "daily", "cron": "0 8 * * *", "prompt": "Check invoices over $500."},
        {"name": "weekly", "cron": "30 9 * * 1", "prompt": "Summarise the week."},
    ]
    rendered = render(NAME, plan="team", params={"schedules": schedules, "timezone": "Europe/Berlin"})
    assert env_b64json(rendered, "openclaw-init", "CF_OPENCLAW_SCHEDULES_B64") == schedules
    assert env(rendered, "openclaw-init")["CF_OPENCLAW_TZ"] == "Europe/Berlin"
    assert config(rendered)["cron"] == {"enabled": True}


def test_config_is_seeded_by_a_one_shot_init_service_into_the_state_volume() -> None:
    """The init service runs once (restart "no"), the gateway waits for its success, both share the volume."""
    rendered = render(NAME, plan="team")
    init, gateway = service(rendered, "openclaw-init"), service(rendered, "openclaw")
    assert template(NAME).meta.services["openclaw-init"].role == "init"
    assert init["restart"] == "no" and "healthcheck" not in init
    assert gateway["depends_on"] == {"openclaw-init": {"condition": "service_completed_successfully"}}
    assert init["volumes"] == gateway["volumes"] == ["openclaw-home:/home/node"]
    assert rendered.compose["volumes"] == {"openclaw-home": {}}
    assert init["user"] == "1000:1000" and init["read_only"] is True
    (volume,) = template(NAME).meta.volumes
    assert (volume.name, volume.mount) == ("openclaw-home", "/home/node")


def test_healthcheck_polls_healthz_every_30_seconds() -> None:
    """The compose healthcheck replaces the image's 3-minute one: /healthz, JSON body checked, every 30 s."""
    check = service(render(NAME, plan="team"), "openclaw")["healthcheck"]
    assert check["interval"] == "30s"
    assert "http://127.0.0.1:18789/healthz" in check["test"][-1] and "j.ok === true" in check["test"][-1]


BAD_PARAMS: list[tuple[str, object]] = [
    ("schedules", [{"name": "x", "cron": "every day", "prompt": "hi"}]),
    (
        "schedules",
        [
            {"name": "x", "cron": "0 8 * * *", "prompt": "a"},
            {"name": "x", "cron": "1 8 * * *", "prompt": "b"},
        ],
    ),
    ("schedules", "not json"),
    ("timezone", "Europe/Berlin; rm -rf /"),
    ("trusted_proxies", "10.0.0.0/33"),
    ("trusted_proxies", "300.1.1.1/8"),
    ("model", "gpt 4"),
    ("context_window", 100),
    ("max_tokens", "lots"),
    ("image", "ghcr.io/openclaw/openclaw:latest"),
    ("image", "ghcr.io/openclaw/openclaw"),
    ("router_api_key", "short"),
]


@pytest.mark.parametrize(
    ("name", "value"), BAD_PARAMS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(BAD_PARAMS)]
)
def test_bad_values_are_refused_naming_the_parameter(name: str, value: object) -> None:
    """Each invalid value fails validation with an error that names its parameter."""
    with pytest.raises(InvalidInput) as caught:
        validate_params(template(NAME), {"router_api_key": "sk-router-example-key-0000", name: value})
    assert caught.value.field == f"param {name}"


def test_rendering_is_deterministic() -> None:
    """The same inputs give the same compose bytes, whatever order the parameters came in."""
    params = {
        "schedules": [{"name": "a", "cron": "0 1 * * *", "prompt": "p"}],
        "model": "m1",
        "timezone": "UTC",
    }
    first = render(NAME, plan="business", params=params)
    second = render(NAME, plan="business", params=dict(reversed(list(params.items()))))
    assert first.compose_yaml == second.compose_yaml and first.sha256 == second.sha256


def test_no_secret_value_is_written_into_the_compose() -> None:
    """The Router key given as a parameter appears only as a ${…} reference (the renderer checks too)."""
    key = "sk-router-real-key-123456789"
    rendered = render(NAME, plan="team", params={"router_api_key": key}, secret_values=[key])
    assert key not in rendered.compose_yaml


# --- The init script, run with the local node against a temporary home (what the container does) ---


def init_script(rendered: RenderedStack) -> str:
    command = service(rendered, "openclaw-init")["command"]
    assert command[:2] == ["node", "-e"]
    return as_container_sees(command[2])


def run_init(rendered: RenderedStack, home: Path) -> tuple[int, list[dict[str, Any]], str]:
    assert NODE is not None
    environment = {k: as_container_sees(v) for k, v in env(rendered, "openclaw-init").items()}
    environment.update(
        HOME=str(home),
        OPENCLAW_STATE_DIR=str(home / ".openclaw"),
        OPENCLAW_CONFIG_PATH=str(home / ".openclaw" / "openclaw.json"),
        PATH=os.environ.get("PATH", ""),
    )
    done = subprocess.run(
        [NODE, "-e", init_script(rendered)], env=environment, capture_output=True, text=True, timeout=60
    )
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return done.returncode, events, done.stderr


SCHEDULES = [{"name": "daily", "cron": "0 8 * * *", "prompt": "Check invoices over $500."}]


@needs_node
def test_init_creates_the_config_and_seeds_the_schedules(tmp_path: Path) -> None:
    """On an empty volume the init script writes openclaw.json and the job file OpenClaw imports."""
    rendered = render(NAME, plan="team", params={"schedules": SCHEDULES, "timezone": "Europe/Berlin"})
    code, events, stderr = run_init(rendered, tmp_path)
    assert code == 0, stderr
    assert [e["event"] for e in events] == ["openclaw_init.config_written", "openclaw_init.schedules_seeded"]
    written = json.loads((tmp_path / ".openclaw" / "openclaw.json").read_text())
    assert written == config(rendered)
    assert written["hooks"]["token"] == "${OPENCLAW_HOOKS_TOKEN}"
    jobs = json.loads((tmp_path / ".openclaw" / "cron" / "jobs.json").read_text())
    (job,) = jobs["jobs"]
    assert jobs["version"] == 1
    assert (job["id"], job["name"], job["enabled"]) == ("cf-daily", "daily", True)
    assert job["schedule"] == {"kind": "cron", "expr": "0 8 * * *", "tz": "Europe/Berlin"}
    assert job["payload"] == {"kind": "agentTurn", "message": "Check invoices over $500."}
    assert job["sessionTarget"] == "isolated"
    assert oct((tmp_path / ".openclaw" / "openclaw.json").stat().st_mode & 0o777) == "0o600"


@needs_node
def test_init_is_idempotent_and_keeps_the_tenants_own_settings(tmp_path: Path) -> None:
    """A redeploy leaves an unchanged config alone, restores managed keys and keeps everything else."""
    rendered = render(NAME, plan="team", params={"schedules": SCHEDULES})
    assert run_init(rendered, tmp_path)[0] == 0
    path = tmp_path / ".openclaw" / "openclaw.json"
    jobs = tmp_path / ".openclaw" / "cron" / "jobs.json"
    jobs.rename(jobs.with_suffix(".json.migrated"))  # what OpenClaw does after importing the file
    code, events, _ = run_init(rendered, tmp_path)
    assert code == 0
    assert [e["event"] for e in events] == [
        "openclaw_init.config_unchanged",
        "openclaw_init.schedules_unchanged",
    ]
    assert not jobs.exists()
    edited = json.loads(path.read_text())
    edited["gateway"]["controlUi"]["allowedOrigins"] = ["*"]
    edited["tools"] = {"profile": "minimal"}
    edited["hooks"]["maxBodyBytes"] = 1024
    path.write_text(json.dumps(edited))
    assert run_init(rendered, tmp_path)[0] == 0
    after = json.loads(path.read_text())
    assert after["gateway"]["controlUi"]["allowedOrigins"] == [PUBLIC]
    assert after["tools"] == {"profile": "minimal"} and after["hooks"]["maxBodyBytes"] == 1024


@needs_node
def test_init_seeds_only_schedules_it_has_not_seeded_before(tmp_path: Path) -> None:
    """A new schedule is added to the job file; seeded ones are left to OpenClaw; dropped ones are logged."""
    assert run_init(render(NAME, plan="team", params={"schedules": SCHEDULES}), tmp_path)[0] == 0
    jobs = tmp_path / ".openclaw" / "cron" / "jobs.json"
    jobs.rename(jobs.with_suffix(".json.migrated"))
    later = [{"name": "weekly", "cron": "0 9 * * 1", "prompt": "Summarise the week."}]
    code, events, _ = run_init(render(NAME, plan="team", params={"schedules": later}), tmp_path)
    assert code == 0
    assert {"event": "openclaw_init.schedules_not_removed", "names": ["daily"]} in events
    assert [j["id"] for j in json.loads(jobs.read_text())["jobs"]] == ["cf-weekly"]


@needs_node
def test_init_refuses_a_config_it_cannot_parse_and_leaves_it_alone(tmp_path: Path) -> None:
    """A hand-broken openclaw.json stops the init (so the gateway does not start) and is not overwritten."""
    path = tmp_path / ".openclaw" / "openclaw.json"
    path.parent.mkdir(parents=True)
    path.write_text("{ gateway: { mode: 'local' }, // json5\n}")
    code, events, _ = run_init(render(NAME, plan="team"), tmp_path)
    assert code == 1
    assert events[-1]["event"] == "openclaw_init.failed" and "not plain JSON" in events[-1]["message"]
    assert path.read_text().startswith("{ gateway")


# --- The healthcheck command, run with the local node against a fake gateway on port 18789 ---


class _Gateway(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def fake_gateway() -> Iterator[type[_Gateway]]:
    try:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 18789), _Gateway)
    except OSError as err:
        pytest.skip(f"port 18789 is busy here: {err}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield _Gateway
    server.shutdown()
    server.server_close()


def run_healthcheck() -> int:
    assert NODE is not None
    test = service(render(NAME, plan="team"), "openclaw")["healthcheck"]["test"]
    assert test[:2] == ["CMD", "node"]
    return subprocess.run([NODE, *test[2:]], capture_output=True, timeout=30).returncode


@needs_node
def test_healthcheck_passes_only_on_the_live_json(fake_gateway: type[_Gateway]) -> None:
    """{"ok":true} is healthy; the Control UI's catch-all 200 page is not (the body is checked)."""
    fake_gateway.body = b'{"ok":true,"status":"live"}'
    assert run_healthcheck() == 0
    fake_gateway.body = b"<!doctype html><title>OpenClaw</title>"
    assert run_healthcheck() == 1
    fake_gateway.body = b'{"ok":false}'
    assert run_healthcheck() == 1


@needs_node
def test_healthcheck_fails_when_nothing_listens() -> None:
    """No gateway on 18789 means unhealthy, not a hang."""
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", 18789)) == 0:
            pytest.skip("something listens on 18789 here")
    assert run_healthcheck() == 1


# --- Provisioning: the generated tokens are created once and kept ---


@pytest.mark.anyio
async def test_generated_tokens_are_stable_across_reprovisioning(
    make_ctx: ContextFactory, coolify_fake: FakeCoolify
) -> None:
    """Two distinct tokens are generated at first provision and kept when the stack is provisioned again."""
    await create_tenant(make_ctx(), "acme", plan="starter", name="Acme GmbH")
    request = ProvisionRequest(tenant="acme", template=NAME, params={"router_api_key": ROUTER_KEY})
    first = await provision(make_ctx(), request)
    envs = coolify_fake.env_values(first.service_uuid)
    gateway_token, hooks_token = envs["OPENCLAW_GATEWAY_TOKEN"], envs["OPENCLAW_HOOKS_TOKEN"]
    assert gateway_token and hooks_token and gateway_token != hooks_token
    assert min(len(gateway_token), len(hooks_token)) >= 40

    changed = request.model_copy(update={"params": {"schedules": SCHEDULES}})
    second = await provision(make_ctx(), changed)
    assert second.service_uuid == first.service_uuid
    again = coolify_fake.env_values(first.service_uuid)
    assert (again["OPENCLAW_GATEWAY_TOKEN"], again["OPENCLAW_HOOKS_TOKEN"]) == (gateway_token, hooks_token)
    compose = coolify_fake.service(first.service_uuid).compose
    assert compose is not None and gateway_token not in compose.text and hooks_token not in compose.text
    init_env = coolify_fake.container(first.service_uuid, "openclaw-init").environment
    assert from_b64_json(init_env["CF_OPENCLAW_SCHEDULES_B64"]) == SCHEDULES

    report = await status(make_ctx(), "acme", show_credentials=True)
    assert report.stacks[0].credentials == {
        "OPENCLAW_GATEWAY_TOKEN": gateway_token,
        "OPENCLAW_HOOKS_TOKEN": hooks_token,
    }


# --- The state-volume layout on a real Docker engine (no image pulled: a busybox rootfs is imported) ---

RUN_ID = uuid.uuid4().hex[:8]  # concurrent test runs never touch each other's objects
PROBE_IMAGE = f"cf-test/openclaw-volume-probe:{RUN_ID}"
PROBE_LABEL = "cf.test.templates"
BUSYBOX = shutil.which("busybox")


def _probe_rootfs() -> bytes:
    """A rootfs shaped like the OpenClaw image where it matters: /home/node exists and belongs to 1000."""
    assert BUSYBOX is not None
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, uid, mode in [("bin", 0, 0o755), ("home", 0, 0o755), ("home/node", 1000, 0o755)]:
            entry = tarfile.TarInfo(name)
            entry.type, entry.uid, entry.gid, entry.mode = tarfile.DIRTYPE, uid, uid, mode
            tar.addfile(entry)
        tmp = tarfile.TarInfo("tmp")
        tmp.type, tmp.mode = tarfile.DIRTYPE, 0o1777
        tar.addfile(tmp)
        tar.add(BUSYBOX, arcname="bin/busybox")
        shell = tarfile.TarInfo("bin/sh")
        shell.type, shell.linkname = tarfile.SYMTYPE, "busybox"
        tar.addfile(shell)
    return buffer.getvalue()


@pytest.fixture
def docker_api() -> Iterator[Any]:
    if BUSYBOX is None:
        pytest.skip("no static busybox here to build the probe image from")
    try:
        import docker

        api = docker.APIClient(base_url=os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock"))
        api.ping()
    except Exception as err:
        if os.environ.get("CI"):
            pytest.fail(f"Docker is required when CI is set: {err}")
        pytest.skip(f"no usable Docker engine: {err}")
    repository, tag = PROBE_IMAGE.split(":")
    api.import_image_from_data(_probe_rootfs(), repository=repository, tag=tag)
    yield api
    mine = {"label": f"{PROBE_LABEL}={RUN_ID}"}
    for container in api.containers(all=True, filters=mine):
        api.remove_container(container["Id"], force=True)
    for volume in (api.volumes(filters=mine) or {}).get("Volumes") or []:
        api.remove_volume(volume["Name"], force=True)
    api.remove_image(PROBE_IMAGE, force=True)
    api.close()


def _run_hardened(api: Any, mount: str, script: str) -> tuple[int, str]:
    """Run ``script`` as 1000:1000 on a read-only rootfs, no capabilities, a fresh volume at ``mount``."""
    from docker.types import Mount

    volume = api.create_volume(f"cf-test-{uuid.uuid4().hex[:8]}", labels={PROBE_LABEL: RUN_ID})["Name"]
    host_config = api.create_host_config(
        mounts=[Mount(target=mount, source=volume, type="volume")],
        read_only=True,
        cap_drop=["ALL"],
        security_opt=["no-new-privileges:true"],
        tmpfs={"/tmp": "size=1m"},
    )
    container = api.create_container(
        PROBE_IMAGE,
        command=["/bin/sh", "-c", script],
        user="1000:1000",
        host_config=host_config,
        labels={PROBE_LABEL: RUN_ID},
    )
    api.start(container["Id"])
    code = api.wait(container["Id"], timeout=60)["StatusCode"]
    return code, api.logs(container["Id"]).decode().strip()


@pytest.mark.docker
def test_a_fresh_volume_on_home_node_is_writable_by_uid_1000(docker_api: Any) -> None:
    """The template's layout works: a new named volume on /home/node takes the image dir's owner (1000)."""
    script = (
        "/bin/busybox mkdir -p /home/node/.openclaw/cron"
        " && /bin/busybox touch /home/node/.openclaw/openclaw.json"
        " && /bin/busybox stat -c %u:%g /home/node"
    )
    assert _run_hardened(docker_api, "/home/node", script) == (0, "1000:1000")


@pytest.mark.docker
def test_a_fresh_volume_on_a_path_missing_from_the_image_is_not(docker_api: Any) -> None:
    """Why not mount ~/.openclaw: a path the image lacks becomes a root-owned volume uid 1000 cannot write."""
    code, _ = _run_hardened(docker_api, "/home/node/.openclaw", "/bin/busybox touch /home/node/.openclaw/x")
    assert code != 0
