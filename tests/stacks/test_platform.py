"""The platform's own compose.yml, for real: the platform image built offline from the project's
Dockerfile (on the Debian base made here), started with ``docker compose up --wait`` on a private Docker
engine, with ``tests/stacks/platform.override.yml`` moving every service into one loopback-only namespace
(plus the socket proxy's socket and image, and shorter check intervals; see that file). The whole file is
started with one ``up --wait`` when a service waits for the one-shot migration; without one, Compose
v2.40.3 fails ``up --wait`` on migrate's exit, so the services are started in order instead.

Proven: PocketBase starts with the superuser from the environment and ``cfa pb migrate`` runs (exit 0,
the collections exist, ``cfa`` works against them); every service runs with compose.yml's hardening;
the monitor reaches Docker only through the socket proxy, which refuses writes and sections it was not
given; an OOM kill of a container that carries only Coolify's project label is paged to a loopback sink,
attributed to tenant and stack through PocketBase's stack record; PocketBase's data survives a stop and
start. Not proven: the upstream ``tecnativa/docker-socket-proxy`` image (a Debian haproxy stand-in with the
same switches runs instead), a real Coolify host, real Apprise services. A service compose.yml gains (such
as ``functions``, ``cfa serve``) joins the namespace and is checked like the others: running, healthy
and hardened; what it does is its own suite's business.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.stacks.harness import (
    BASE_DOMAIN,
    REPO,
    ROUTER_URL,
    SINK_PORT,
    Compose,
    Fakes,
    ProbeResult,
    RunEnv,
    StackFailure,
    no_networks_but_the_builtins,
    wait_for,
)
from tests.stacks.kernel import applied, hardening_problems, seconds_to_healthy
from tests.stacks.monitoring import page_text
from tests.stacks.report import figures, record

OVERRIDE = REPO / "tests" / "stacks" / "platform.override.yml"
NAMESPACE = "netns"
TENANT = "stacks-oom"
STACK = "worker"
SERVICE_UUID = "cfstoom" + secrets.token_hex(6)
PB = "http://127.0.0.1:8090"
DIRECTORY_REFRESH_SECONDS = 2  # the monitor's stack-record refresh in platform.override.yml
PROXY = "http://127.0.0.1:2375"
pytestmark = pytest.mark.timeout(900)


@dataclass
class Platform:
    compose: Compose
    fakes: Fakes
    env: dict[str, str]
    config: dict[str, Any]
    healthy: dict[str, float | None] = field(default_factory=dict)

    def pb(self, method: str, path: str, body: Any = None, token: str | None = None) -> ProbeResult:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = token
        data = json.dumps(body) if body is not None else None
        return self.fakes.probe(method, f"{PB}{path}", headers=headers, body=data)

    def superuser_token(self) -> str:
        login = {
            "identity": self.env["CFA_POCKETBASE_EMAIL"],
            "password": self.env["CFA_POCKETBASE_PASSWORD"],
        }
        result = self.pb("POST", "/api/collections/_superusers/auth-with-password", login)
        assert result.status == 200, result.status
        return str(result.json()["token"])

    def cfa(self, *args: str) -> str:
        result = self.compose("run", "--rm", "--no-deps", "cfa", "cfa", *args)
        return result.stdout


def example_env() -> dict[str, str]:
    """The variables of the project's .env.example, with its example values (a single-quoted value is
    literal, as Compose reads it: the JSON budgets)."""
    values = {}
    for line in (REPO / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == "'":
                value = value[1:-1]
            values[key.strip()] = value
    return values


def write_operator_env(path: Path, values: dict[str, str]) -> None:
    """The platform's ``.env`` as an operator writes it from .env.example: plain values as they are,
    others (JSON) single-quoted, which Compose reads literally."""
    lines = []
    for key, value in sorted(values.items()):
        if re.fullmatch(r"[A-Za-z0-9_.:+/=@-]*", value):
            lines.append(f"{key}={value}\n")
        elif "'" not in value and "\n" not in value:
            lines.append(f"{key}='{value}'\n")
        else:
            raise StackFailure(f"the value of {key} cannot be written to a .env; pick a plainer dummy")
    path.write_text("".join(lines))
    path.chmod(0o600)


def merged_config(compose: Compose) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(compose("--profile", "*", "config").stdout)
    return config


def required_variables() -> set[str]:
    """The variables compose.yml refuses to start without (``${NAME:?…}``)."""
    return set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*):\?", (REPO / "compose.yml").read_text()))


def join_namespace(directory: Path, config: dict[str, Any]) -> Path | None:
    """An extra override for services compose.yml has and the static override does not move (such as
    `functions`, `cfa serve`, once it is there): the same moves, so every service joins the namespace."""
    strays = [
        name
        for name, spec in config["services"].items()
        if name != NAMESPACE and spec.get("network_mode") != f"service:{NAMESPACE}"
    ]
    if not strays:
        return None
    services: dict[str, Any] = {NAMESPACE: {"extra_hosts": [f"{name}:127.0.0.1" for name in strays]}}
    for name in strays:
        services[name] = {"network_mode": f"service:{NAMESPACE}"}
        if "healthcheck" in config["services"][name]:
            services[name]["healthcheck"] = {"interval": "2s"}
    path = directory / "joined.override.yml"
    path.write_text(yaml.safe_dump({"services": services}, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def platform(run: RunEnv, api: Any) -> Iterator[Platform]:
    directory = run.work / "platform"
    if directory.exists():
        shutil.rmtree(directory)
    control = directory / "control"
    control.mkdir(parents=True)
    control.chmod(0o777)
    # .env as an operator writes it from .env.example, with this run's values; nothing points outside
    # the namespace's loopback (Coolify's URL is a closed port there: no test here needs Coolify).
    env = example_env()
    env.update(
        {
            "CFA_IMAGE": run.image("platform"),
            "CFA_POCKETBASE_EMAIL": "ops@stacks-platform.example",
            "CFA_POCKETBASE_PASSWORD": secrets.token_urlsafe(24),
            "CFA_COOLIFY_URL": "http://127.0.0.1:9",
            "CFA_BASE_DOMAIN": BASE_DOMAIN,
            "CFA_ROUTER_URL": ROUTER_URL,
            "CFA_MONITOR_HOST_NAME": "stacks-platform",
            "CFA_APPRISE_URLS": f"json://127.0.0.1:{SINK_PORT}/pages",
            "CFA_STACKS_FAKES_IMAGE": run.image("fakes"),
            "CFA_STACKS_SOCKET_PROXY_IMAGE": run.image("socket-proxy"),
            "CFA_STACKS_DOCKER_SOCKET": str(run.docker_socket),
            "CFA_STACKS_CONTROL_DIR": str(control),
        }
    )
    # Any other variable compose.yml requires that .env.example leaves blank or as a `change-me…`
    # placeholder (tokens, keys) gets a fresh dummy, as an operator would fill in a real value.
    dummies = {
        name: secrets.token_urlsafe(24)
        for name in required_variables()
        if not env.get(name) or env[name].startswith("change-me")
    }
    env.update(dummies)
    write_operator_env(directory / ".env", env)
    compose = Compose(
        run=run,
        project="cfst-platform",
        directory=directory,
        files=[REPO / "compose.yml", OVERRIDE],
        env_file=directory / ".env",
        hidden=[env["CFA_POCKETBASE_PASSWORD"], *dummies.values()],
    )
    joined = join_namespace(directory, merged_config(compose))
    if joined is not None:
        compose.files.append(joined)
    config = merged_config(compose)
    compose.down(volumes=True)
    fakes = Fakes(control / "fakes.sock")
    platform = Platform(compose, fakes, env, config)
    try:
        platform.healthy = start(api, compose, config)
        seed(platform)
        yield platform
    finally:
        compose.save_logs()
        compose.down(volumes=True)
        fakes.close()


def waits_for_migrate(config: dict[str, Any]) -> bool:
    """Whether a long-running service waits for the one-shot `migrate` to complete: only then does
    `docker compose up --wait` of the whole file accept migrate's exit (Compose v2.40.3 otherwise reports
    `container …-migrate-1 exited (0)` and fails)."""
    return any(
        (spec.get("depends_on") or {}).get("migrate", {}).get("condition") == "service_completed_successfully"
        for spec in config["services"].values()
    )


def start(api: Any, compose: Compose, config: dict[str, Any]) -> dict[str, float | None]:
    """Start compose.yml: one `docker compose up --wait` of the whole file when a service waits for the
    migration; otherwise in order (PocketBase, the migration run to its exit, then the rest, each with
    `up --wait`). Returns each service's start-to-healthy seconds (read at once: Docker keeps only the
    last five health results)."""
    if waits_for_migrate(config):
        compose.up()
    else:
        compose.up(NAMESPACE, "pocketbase")
        compose("up", "--detach", "--no-deps", "migrate")
        wait_for(lambda: _exited(api, compose, "migrate"), what="the migration to finish", timeout=120)
        others = [name for name in compose.services() if name not in (NAMESPACE, "pocketbase", "migrate")]
        compose.up(*others)
    migrate = api.inspect_container(compose.container_id("migrate"))
    if migrate["State"]["ExitCode"] != 0:
        raise StackFailure(f"cfa pb migrate exited {migrate['State']['ExitCode']}\n{compose.log_digest()}")
    no_networks_but_the_builtins(api)
    healthy: dict[str, float | None] = {}
    for name in compose.services():
        info = api.inspect_container(compose.container_id(name))
        if name != NAMESPACE and info["State"].get("Health"):
            healthy[name] = seconds_to_healthy(info)
    return healthy


def _exited(api: Any, compose: Compose, service: str) -> bool:
    return bool(api.inspect_container(compose.container_id(service))["State"]["Status"] == "exited")


def seed(platform: Platform) -> None:
    """A tenant through the platform's own CLI, and a stack record such as provisioning writes, whose
    Coolify service uuid is the compose project label Coolify gives a stack's containers. The running
    monitor picks the record up at its next directory refresh (every 2 s here: the test override)."""
    platform.cfa("tenants", "create", TENANT, "--plan", "starter", "--name", "OOM test tenant")
    token = platform.superuser_token()
    query = urllib.parse.quote(f"slug='{TENANT}'")
    tenants = platform.pb("GET", f"/api/collections/tenants/records?filter={query}", token=token).json()
    (tenant,) = tenants["items"]
    record = {
        "tenant": tenant["id"],
        "name": STACK,
        "template": "telegram-bot",
        "desired_state": "running",
        "status": "running",
        "coolify_service_uuid": SERVICE_UUID,
    }
    created = platform.pb("POST", "/api/collections/stacks/records", record, token=token)
    assert created.status == 200, created.body[:300]


def test_every_compose_service_runs_in_the_loopback_namespace(api: Any, platform: Platform) -> None:
    """Every service of compose.yml is moved into the one namespace (one the static override does not
    name yet, such as `cfa serve`, joins through the generated extra override), and the engine has no
    network but its built-in ones."""
    for name, spec in platform.config["services"].items():
        if name != NAMESPACE:
            assert spec["network_mode"] == f"service:{NAMESPACE}", name
    no_networks_but_the_builtins(api)


def test_pocketbase_starts_and_the_migration_runs(platform: Platform, api: Any) -> None:
    """`migrate` (cfa pb migrate) exited 0, the tenants and stacks collections exist, and the platform's
    CLI works against them (the tenant created before the monitor started is listed)."""
    migrate = api.inspect_container(platform.compose.container_id("migrate"))
    assert migrate["State"]["ExitCode"] == 0
    token = platform.superuser_token()
    collections = platform.pb("GET", "/api/collections?perPage=200", token=token).json()
    names = {c["name"] for c in collections["items"]}
    assert {"tenants", "stacks"} <= names
    assert TENANT in platform.cfa("tenants", "list")


def test_every_service_runs_with_the_hardening_compose_yml_asks_for(
    run: RunEnv, api: Any, platform: Platform
) -> None:
    """User, read-only root, tmpfs, no capabilities, no-new-privileges, limits, log rotation, no ports
    and loopback only, for each running service as compose.yml (merged with the override) asks."""
    for name, spec in platform.config["services"].items():
        if name in (NAMESPACE, "cfa"):
            continue
        found = applied(api, platform.compose.container_id(name))
        assert hardening_problems(found, spec) == [], name
        if found.pid:
            healthy = platform.healthy.get(name)
            record(
                run, figures(found, template="platform compose.yml", plan="-", service=name, healthy=healthy)
            )


def test_the_monitor_reaches_docker_only_through_the_socket_proxy(api: Any, platform: Platform) -> None:
    """The monitor has no Docker socket and no network but the namespace's loopback; its Docker URL is
    the proxy, its event stream is up, and the proxy's log shows its reads (haproxy logs a request when
    it ends, so the still-open event stream itself is not in it yet)."""
    monitor = api.inspect_container(platform.compose.container_id("monitor"))
    assert not [
        m for m in monitor["Mounts"] if "docker.sock" in (m.get("Source", "") + m.get("Destination", ""))
    ]
    env = dict(item.split("=", 1) for item in monitor["Config"]["Env"])
    assert env["CFA_MONITOR_DOCKER_URL"] == "tcp://docker-socket-proxy:2375"
    health = wait_for(
        lambda: _monitor_health(platform),
        what="the monitor's event stream through the proxy",
        timeout=60,
    )
    assert health["stream_connected"] is True
    proxy_log = platform.compose.logs("docker-socket-proxy")
    assert '"GET /v1.41/containers/json' in proxy_log


def _monitor_health(platform: Platform) -> dict[str, Any] | None:
    result = platform.fakes.probe("GET", "http://127.0.0.1:9465/healthz")
    body: dict[str, Any] = result.json()
    return body if result.status == 200 and body.get("stream_connected") else None


def test_the_socket_proxy_refuses_writes_and_other_sections(api: Any, platform: Platform) -> None:
    """Through the proxy: reads of allowed sections pass; a POST (create, stop) is refused with 403 and
    changes nothing; a section compose.yml does not enable (images, exec) is refused too."""
    monitor_id = platform.compose.container_id("monitor")
    assert platform.fakes.probe("GET", f"{PROXY}/v1.41/containers/json").status == 200
    assert platform.fakes.probe("GET", f"{PROXY}/_ping").status == 200
    create = platform.fakes.probe(
        "POST",
        f"{PROXY}/v1.41/containers/create",
        headers={"Content-Type": "application/json"},
        body=json.dumps({"Image": "cfa-stacks/busybox:test", "Cmd": ["true"]}),
    )
    assert create.status == 403
    assert platform.fakes.probe("POST", f"{PROXY}/v1.41/containers/{monitor_id}/stop").status == 403
    assert api.inspect_container(monitor_id)["State"]["Running"] is True
    assert platform.fakes.probe("GET", f"{PROXY}/v1.41/images/json").status == 403
    assert platform.fakes.probe("GET", f"{PROXY}/v1.41/secrets").status == 403


def test_an_oom_of_a_tenant_container_is_paged_attributed_through_pocketbase(
    run: RunEnv, api: Any, platform: Platform
) -> None:
    """A container labelled only with Coolify's project label (the stack record's service uuid) is
    OOM-killed: the monitor pages it once to the loopback sink, naming the tenant and stack that only
    PocketBase's stack record knows."""
    # The record was written after the monitor started: give it three refreshes to read it.
    time.sleep(3 * DIRECTORY_REFRESH_SECONDS)
    container = api.create_container(
        run.image("busybox"),
        ["tail", "/dev/zero"],
        name=f"cfst-oom-{secrets.token_hex(4)}",
        labels={"com.docker.compose.project": SERVICE_UUID, "com.docker.compose.service": STACK},
        host_config=api.create_host_config(network_mode="none", mem_limit="16m", memswap_limit="16m"),
    )
    try:
        api.start(container)
        wait_for(
            lambda: api.inspect_container(container)["State"]["Status"] == "exited",
            what="the OOM kill",
            timeout=60,
        )
        assert api.inspect_container(container)["State"]["OOMKilled"] is True
        pages = wait_for(
            lambda: [
                p for p in platform.fakes.pages() if TENANT in page_text(p) and "oom" in page_text(p).lower()
            ],
            what="the OOM page at the sink",
            timeout=60,
        )
        assert f"{STACK}" in page_text(pages[0])
        assert len(pages) == 1
    finally:
        api.remove_container(container, force=True)


def test_pocketbase_data_survives_a_stop_and_start(api: Any, platform: Platform) -> None:
    """`down` (volumes kept) and a start again: the tenant is still there, and the migration, run again,
    exits 0 without changing anything (it is idempotent)."""
    platform.compose.save_logs("before-restart")
    platform.compose.down(volumes=False)
    start(api, platform.compose, platform.config)
    assert TENANT in platform.cfa("tenants", "list")


def test_the_functions_service_serves_its_health_and_the_admin_pages(platform: Platform) -> None:
    """`cfa serve` from the built image answers /healthz and serves the admin pages: the sign-in form
    (its Jinja templates) and the vendored htmx, which the image has only as package data."""
    health = platform.fakes.probe("GET", "http://127.0.0.1:8480/healthz")
    login = platform.fakes.probe("GET", "http://127.0.0.1:8480/admin/login")
    htmx = platform.fakes.probe("GET", "http://127.0.0.1:8480/admin/static/htmx-2.0.10.min.js")
    assert health.status == 200
    assert login.status == 200 and 'name="csrf_token"' in login.body
    headers = {name.lower(): value for name, value in login.headers.items()}
    assert "script-src 'self'" in headers.get("content-security-policy", "")
    assert htmx.status == 200 and 'version:"2.0.10"' in htmx.body
