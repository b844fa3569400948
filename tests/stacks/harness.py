"""Running a rendered stack for real: render it with the project's CLI, give it secrets the way Coolify
does (an ``.env`` next to the compose), move it into a loopback-only namespace with the fakes, and drive
it with Docker Compose v2 on the private engine that ``scripts/stacks/run`` started.

Nothing here knows a template's environment variable names: secrets come from ``cfa templates show``
(secret parameters and generated secrets), and every ``${VAR}`` the render refers to must be covered by
them. The one exception is what a test override truly needs (the bot's ``TELEGRAM_API_BASE``), which
lives in that template's test.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import yaml

from shared.secrets import SecretKind, generate
from tests.stacks.kernel import seconds_to_healthy

REPO = Path(__file__).resolve().parents[2]
CFA = Path(sys.executable).with_name("cfa")

# Inside every stack's namespace: the fakes' ports on 127.0.0.1.
TELEGRAM_PORT = 9081
ROUTER_PORT = 9082
SINK_PORT = 9083
ROUTER_URL = f"http://127.0.0.1:{ROUTER_PORT}/v1"
TELEGRAM_API_BASE = f"http://127.0.0.1:{TELEGRAM_PORT}"
BASE_DOMAIN = "stacks.test"
FAKE_MODELS = ("stacks-test-model", "stacks-test-embedding")

# The test override's healthcheck period: the rendered checks run as rendered, only more often, so a
# stack is judged in seconds instead of the rendered 30 s intervals.
HEALTHCHECK_INTERVAL = "2s"

# Read once at import: the suite-wide autouse fixture removes every CFA_* variable during tests.
_ENV = {key: value for key, value in os.environ.items() if key.startswith("CFA_STACKS_")}

T = TypeVar("T")


class StackFailure(AssertionError):
    """A stack did not do what the test needed; the message says what and where the logs are."""


@dataclass(frozen=True)
class RunEnv:
    """What ``scripts/stacks/run`` prepared: the private engine, Compose v2, the built images."""

    docker_host: str
    compose: Path
    images: dict[str, str | None]
    work: Path
    report: Path

    def image(self, role: str) -> str:
        image = self.images.get(role)
        if not image:
            raise StackFailure(f"no {role} image was built (scripts/stacks/build-images)")
        return image

    @property
    def docker_socket(self) -> Path:
        return Path(self.docker_host.removeprefix("unix://"))


def run_env() -> RunEnv | None:
    """The prepared run, or None when the suite was not started by ``make test-stacks``."""
    if "CFA_STACKS_DOCKER_HOST" not in _ENV:
        return None
    images_file = Path(_ENV["CFA_STACKS_IMAGES"])
    return RunEnv(
        docker_host=_ENV["CFA_STACKS_DOCKER_HOST"],
        compose=Path(_ENV["CFA_STACKS_COMPOSE"]),
        images=json.loads(images_file.read_text()),
        work=Path(_ENV["CFA_STACKS_WORK"]),
        report=Path(_ENV["CFA_STACKS_REPORT"]),
    )


def wait_for(check: Callable[[], T | None], *, what: str, timeout: float, interval: float = 0.5) -> T:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` after ``timeout`` s.

    The timeout only bounds the wait (a stack that never gets there must not hang CI); no test asserts
    how long anything took.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise StackFailure(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def redact(text: str, hidden: Iterable[str]) -> str:
    for value in hidden:
        if value:
            text = text.replace(value, "***")
    return text


def _base_env(run: RunEnv, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "DOCKER_HOST": run.docker_host,
        "DOCKER_BUILDKIT": "0",
    }
    env.update(extra or {})
    return env


# ---------------------------------------------------------------------------------------------------
# Rendering with the project's CLI


@dataclass(frozen=True)
class Rendered:
    """One stack as ``cfa templates render --json`` printed it."""

    template: str
    tenant: str
    plan: str
    params: dict[str, str]
    compose_yaml: str
    compose: dict[str, Any]
    loader: str | None

    @property
    def services(self) -> dict[str, dict[str, Any]]:
        services: dict[str, dict[str, Any]] = self.compose["services"]
        return services

    def service(self, name: str) -> dict[str, Any]:
        return self.services[name]

    def references(self) -> set[str]:
        """Every ``${VAR…}`` the compose interpolates (``$${…}`` is an escaped literal)."""
        return set(re.findall(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)", self.compose_yaml))


def cfa(run: RunEnv, *args: str, env: Mapping[str, str] | None = None) -> str:
    """Run the project's CLI; return stdout. A failure shows stderr (no secret is ever an argument)."""
    data_dir = run.work / "cfa-data"
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = {
        "CFA_ROUTER_URL": ROUTER_URL,
        "CFA_BASE_DOMAIN": BASE_DOMAIN,
        "CFA_COMPOSE_BINARY": str(run.compose),
        "CFA_DATA_DIR": str(data_dir),
        "CFA_LOG_LEVEL": "WARNING",
        **(env or {}),
    }
    result = subprocess.run(
        [str(CFA), *args], capture_output=True, text=True, env=_base_env(run, settings), check=False
    )
    if result.returncode != 0:
        raise StackFailure(f"cfa {' '.join(args)} exited {result.returncode}: {result.stderr.strip()}")
    return result.stdout


def render(run: RunEnv, template: str, *, tenant: str, plan: str, params: Mapping[str, str]) -> Rendered:
    """``cfa templates render TEMPLATE --tenant --plan --param … --json``, the Router being the fake."""
    args = ["templates", "render", template, "--tenant", tenant, "--plan", plan, "--json"]
    for key, value in params.items():
        args += ["--param", f"{key}={value}"]
    data = json.loads(cfa(run, *args))
    compose_yaml = str(data["compose"])
    return Rendered(
        template=template,
        tenant=tenant,
        plan=plan,
        params=dict(params),
        compose_yaml=compose_yaml,
        compose=yaml.safe_load(compose_yaml),
        loader=data.get("compose_loader"),
    )


_CANDIDATES: tuple[Callable[[], str], ...] = (
    lambda: "sk-stacks-" + secrets.token_hex(16),
    lambda: f"{secrets.randbelow(9 * 10**9) + 10**9}:AA{secrets.token_urlsafe(32)[:33]}",
    lambda: secrets.token_hex(24),
)


def _dummy_for(spec: Mapping[str, Any]) -> str:
    """A fresh dummy value for a secret parameter that its pattern accepts (never a real secret)."""
    pattern = spec.get("pattern")
    for make in _CANDIDATES:
        value = make()
        if not pattern or re.fullmatch(str(pattern), value):
            return value
    example = spec.get("example")
    if isinstance(example, str):
        return example
    raise StackFailure(f"no dummy value fits the pattern of secret parameter {spec.get('name')}")


def sha256(value: str) -> str:
    """What the fakes record instead of a credential."""
    return hashlib.sha256(value.encode()).hexdigest()


def template_meta(run: RunEnv, template: str) -> dict[str, Any]:
    """``cfa templates show TEMPLATE --json``."""
    meta: dict[str, Any] = json.loads(cfa(run, "templates", "show", template, "--json"))
    return meta


def stack_secrets(rendered: Rendered, meta: dict[str, Any]) -> dict[str, str]:
    """Values for the stack's ``.env``, as Coolify would hold them: the template's secret parameters
    (fresh dummies), its generated secrets (the project's own generator) and its secret aliases. Every
    variable the render refers to must be among them."""
    values: dict[str, str] = {}
    for spec in meta.get("parameters", []):
        if spec.get("secret") and spec.get("env"):
            values[str(spec["env"])] = _dummy_for(spec)
    for spec in meta.get("secrets", []):
        kind: SecretKind = spec["kind"]
        values[str(spec["env"])] = generate(kind, int(spec.get("length") or 32))
    # Secret aliases (where the template declares them): another secret's value under the name an image
    # reads, selected by parameter values, as provisioning pushes them.
    public = {str(p["name"]): p.get("default") for p in meta.get("parameters", [])}
    public.update(rendered.params)
    for alias in meta.get("secret_aliases", []) or []:
        env, source, when = str(alias["env"]), str(alias["source"]), alias.get("when") or {}
        selected = all(str(public.get(k)) == str(v) for k, v in when.items())
        if selected and env not in values and source in values:
            values[env] = values[source]
    missing = sorted(rendered.references() - set(values))
    if missing:
        raise StackFailure(
            f"the rendered {rendered.template} refers to {missing}, which the template declares neither as "
            "secret parameters nor as generated secrets: the harness cannot fill them like Coolify would"
        )
    return values


# ---------------------------------------------------------------------------------------------------
# The fakes' control API


@dataclass(frozen=True)
class ProbeResult:
    status: int
    body: str
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)


class Fakes:
    """Client of the fakes' control socket (HTTP over a unix socket in a bind-mounted directory)."""

    def __init__(self, socket: Path) -> None:
        self.socket = socket
        self._http = httpx.Client(
            transport=httpx.HTTPTransport(uds=str(socket)), base_url="http://fakes", timeout=120
        )

    def close(self) -> None:
        self._http.close()

    def state(self) -> dict[str, Any]:
        response = self._http.get("/state")
        response.raise_for_status()
        state: dict[str, Any] = response.json()
        return state

    def calls(self, kind: str) -> list[dict[str, Any]]:
        return [c for c in self.state()["calls"] if c["kind"] == kind]

    def pages(self) -> list[dict[str, Any]]:
        pages: list[dict[str, Any]] = self.state()["pages"]
        return pages

    def send_message(self, chat_id: int, text: str) -> int:
        response = self._http.post("/telegram/message", json={"chat_id": chat_id, "text": text})
        response.raise_for_status()
        return int(response.json()["update_id"])

    def stall(self, stalled: bool) -> None:
        self._http.post("/telegram/stall", json={"stalled": stalled}).raise_for_status()

    def probe(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: str | None = None,
        timeout: float = 60,
    ) -> ProbeResult:
        """One HTTP request made from inside the stack's namespace (only to 127.0.0.1)."""
        request = {
            "method": method,
            "url": url,
            "headers": dict(headers or {}),
            "body": body,
            "timeout": timeout,
        }
        response = self._http.post("/probe", json=request, timeout=timeout + 30)
        response.raise_for_status()
        result = response.json()
        if "error" in result:
            raise StackFailure(f"{method} {url} from inside the namespace failed: {result['error']}")
        return ProbeResult(int(result["status"]), str(result["body"]), dict(result["headers"]))

    def answers(self) -> bool:
        try:
            return bool(self._http.get("/healthz", timeout=2).status_code == 200)
        except httpx.HTTPError:
            return False


def fakes_service(run: RunEnv, control_dir: Path, *, hosts: Iterable[str]) -> dict[str, Any]:
    """The namespace's owner: the fakes, with no network but loopback; ``hosts`` resolve to 127.0.0.1
    for everyone in the namespace (no Compose DNS without a network)."""
    return {
        "image": run.image("fakes"),
        "command": [
            "--control",
            "/control/fakes.sock",
            "--telegram",
            str(TELEGRAM_PORT),
            "--router",
            str(ROUTER_PORT),
            "--sink",
            str(SINK_PORT),
            "--models",
            ",".join(FAKE_MODELS),
        ],
        "network_mode": "none",
        "extra_hosts": [f"{host}:127.0.0.1" for host in sorted(set(hosts))],
        "user": "65534:65534",
        "read_only": True,
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges:true"],
        "volumes": [f"{control_dir}:/control"],
        "healthcheck": {
            "test": ["CMD", "python3", "/fakes/server.py", "--check", "--control", "/control/fakes.sock"],
            "interval": HEALTHCHECK_INTERVAL,
            "timeout": "5s",
            "retries": 30,
        },
        "mem_limit": "128m",
        "pids_limit": 128,
        "labels": {"cfa.stacks.role": "fakes"},
    }


def loopback_override(
    run: RunEnv,
    rendered: Rendered,
    control_dir: Path,
    extra: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The test override: the fakes own a loopback-only namespace and every rendered service joins it;
    rendered healthchecks run every ``HEALTHCHECK_INTERVAL``. ``extra`` adds per-service keys."""
    services: dict[str, Any] = {"fakes": fakes_service(run, control_dir, hosts=rendered.services)}
    for name, service in rendered.services.items():
        override: dict[str, Any] = {"network_mode": "service:fakes"}
        if "healthcheck" in service:
            override["healthcheck"] = {"interval": HEALTHCHECK_INTERVAL}
        override.update((extra or {}).get(name, {}))
        services[name] = override
    return {"services": services}


# ---------------------------------------------------------------------------------------------------
# Compose on the private engine


@dataclass
class Compose:
    """``docker compose -p PROJECT -f … --env-file …`` against the private engine."""

    run: RunEnv
    project: str
    directory: Path
    files: list[Path]
    env_file: Path
    hidden: list[str] = field(default_factory=list)

    def __call__(
        self, *args: str, check: bool = True, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        command = [str(self.run.compose), "-p", self.project, "--project-directory", str(self.directory)]
        for file in self.files:
            command += ["-f", str(file)]
        command += ["--env-file", str(self.env_file), *args]
        result = subprocess.run(
            command, capture_output=True, text=True, env=_base_env(self.run), timeout=timeout, check=False
        )
        if check and result.returncode != 0:
            raise StackFailure(
                f"docker compose {' '.join(args)} exited {result.returncode}: "
                f"{redact(result.stderr.strip(), self.hidden)[-3000:]}\n{self.log_digest()}"
            )
        return result

    def up(self, *services: str, timeout: int = 420) -> None:
        """``up -d --wait``: every service running and healthy, one-shots done."""
        self(
            "up",
            "-d",
            "--wait",
            "--wait-timeout",
            str(timeout),
            "--pull",
            "never",
            *services,
            timeout=timeout + 60,
        )

    def down(self, *, volumes: bool) -> None:
        self("down", "--timeout", "20", *(["--volumes"] if volumes else []), check=False)

    def services(self) -> list[str]:
        """The services ``up`` starts (active profiles only)."""
        return self("config", "--services").stdout.split()

    def container_id(self, service: str) -> str:
        ids = self("ps", "--all", "--quiet", service).stdout.split()
        if len(ids) != 1:
            raise StackFailure(f"expected one container for service {service}, found {len(ids)}")
        return ids[0]

    def logs(self, *services: str) -> str:
        return redact(
            self("logs", "--no-color", "--no-log-prefix", *services, check=False).stdout, self.hidden
        )

    def save_logs(self, label: str = "final") -> Path:
        path = self.directory / f"logs-{label}.txt"
        path.write_text(redact(self("logs", "--no-color", "--timestamps", check=False).stdout, self.hidden))
        return path

    def log_digest(self, lines: int = 40) -> str:
        """The last lines of every service's log (secrets redacted), for a failure message."""
        text = redact(self("logs", "--no-color", "--tail", str(lines), check=False).stdout, self.hidden)
        return f"--- last {lines} log lines per service ---\n{text[-6000:]}"


def no_networks_but_the_builtins(api: Any) -> None:
    """The engine holds no network but its built-in host and none (it runs with --bridge=none): no stack
    or override ever created one (a bridge would give containers an address outside loopback)."""
    names = sorted(str(n["Name"]) for n in api.networks())
    if names != ["host", "none"]:
        raise StackFailure(f"the engine has networks {names}: only loopback namespaces are allowed")


def write_env_file(path: Path, values: Mapping[str, str]) -> None:
    """The stack's ``.env``, as Coolify writes one: KEY=value lines, readable by root only."""
    for key, value in values.items():
        if not re.fullmatch(r"[A-Za-z0-9_.:+/=@-]*", value):
            raise StackFailure(f"the value of {key} needs quoting in a .env; pick a plainer dummy")
    path.write_text("".join(f"{k}={v}\n" for k, v in sorted(values.items())))
    path.chmod(0o600)


@dataclass
class StackRun:
    """A rendered stack running in its loopback namespace, with its fakes."""

    rendered: Rendered
    compose: Compose
    fakes: Fakes
    secrets: dict[str, str]
    meta: dict[str, Any]
    api: Any
    healthy_seconds: dict[str, float | None] = field(default_factory=dict)

    def container(self, service: str) -> str:
        return self.compose.container_id(service)

    def secret(self, *, param: str | None = None, generated: str | None = None) -> str:
        """The ``.env`` value of the template's secret parameter ``param``, or of its generated secret
        ``generated`` (an env name the template must still declare)."""
        if param is not None:
            env = next(str(p["env"]) for p in self.meta["parameters"] if p["name"] == param)
        else:
            envs = [str(s["env"]) for s in self.meta["secrets"]]
            if generated not in envs:
                raise StackFailure(f"{self.rendered.template} no longer generates {generated}: {envs}")
            env = str(generated)
        return self.secrets[env]

    def up(self, *services: str) -> None:
        """``up --wait``, then note each service's start-to-healthy time (Docker keeps only the last
        five health results, so this is read at once)."""
        self.compose.up(*services)
        no_networks_but_the_builtins(self.api)
        self.healthy_seconds = {}
        for service in self.rendered.services:
            ids = self.compose("ps", "--all", "--quiet", service).stdout.split()
            if ids:
                self.healthy_seconds[service] = seconds_to_healthy(self.api.inspect_container(ids[0]))

    def restart(self) -> None:
        """Stop and start the whole stack as a redeploy does: ``down`` (volumes kept), ``up --wait``."""
        self.compose.save_logs("before-restart")
        self.compose.down(volumes=False)
        self.up()


@contextmanager
def running_stack(
    run: RunEnv,
    rendered: Rendered,
    *,
    name: str,
    api: Any,
    extra: Mapping[str, Mapping[str, Any]] | None = None,
    services: Iterable[str] = (),
) -> Iterator[StackRun]:
    """Write compose, override and ``.env`` to a fresh directory, ``up --wait`` (only ``services`` if
    given), yield, then save the logs and remove the stack with its volumes."""
    directory = run.work / name
    if directory.exists():
        shutil.rmtree(directory)
    control = directory / "control"
    control.mkdir(parents=True)
    control.chmod(0o777)  # the fakes run as nobody and create their socket here
    meta = template_meta(run, rendered.template)
    values = stack_secrets(rendered, meta)
    (directory / "compose.yml").write_text(rendered.compose_yaml)
    override = loopback_override(run, rendered, control, extra)
    (directory / "override.yml").write_text(yaml.safe_dump(override, sort_keys=False))
    write_env_file(directory / ".env", values)
    compose = Compose(
        run=run,
        project=f"cfst-{name}",
        directory=directory,
        files=[directory / "compose.yml", directory / "override.yml"],
        env_file=directory / ".env",
        hidden=list(values.values()),
    )
    compose.down(volumes=True)
    fakes = Fakes(control / "fakes.sock")
    stack = StackRun(rendered=rendered, compose=compose, fakes=fakes, secrets=values, meta=meta, api=api)
    try:
        stack.up(*services)
        wait_for(fakes.answers, what="the fakes' control socket", timeout=60)
        yield stack
    finally:
        compose.save_logs()
        compose.down(volumes=True)
        fakes.close()
