"""openclaw-agent, for real: OpenClaw 2026.8.2 from npm on Node 24 from npm, in a local image that
approximates the upstream one (Debian base, uid 1000 `node`, tini, the package at /app; no registry to
pull ghcr.io/openclaw/openclaw), run with the compose exactly as ``cfa templates render`` prints it on a
private Docker engine, in a loopback-only namespace with a fake Router.

Proven: the init service seeds openclaw.json (no secret in it) and exits 0, and the gateway accepts that
config and turns healthy; ``POST /hooks/agent`` with the hooks token is admitted and the agent calls the
Router with the Router key, without or with a wrong token it is refused; a schedule from the template's
parameters is imported from ``cron/jobs.json`` at start and fires at its time in its time zone; the
rendered hardening is applied; what the stack wrote to its volume survives a stop and start. Test-only
changes: the namespace and 2 s healthcheck intervals. Not proven: the upstream image's own contents
(its user, file ownership and entrypoint are imitated, not pulled), a real Router or model, Traefik.
"""

from __future__ import annotations

import datetime
import json
import secrets
import time
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.stacks.harness import (
    RunEnv,
    StackRun,
    render,
    running_stack,
    sha256,
    wait_for,
)
from tests.stacks.kernel import applied, exec_in, hardening_problems
from tests.stacks.report import record_idle

TENANT = "stacks-claw"
MODEL = "stacks-test-model"
TIMEZONE = "Europe/Berlin"
SCHEDULE = "stacks-tick"
GATEWAY_PORT = 18789
pytestmark = pytest.mark.timeout(600)


@dataclass
class Agent:
    stack: StackRun
    gateway: str
    init: str
    fires_at: datetime.datetime
    prompt: str
    state_dir: str

    def container(self) -> str:
        return self.stack.container(self.gateway)


@pytest.fixture(scope="module")
def agent(run: RunEnv, api: Any) -> Iterator[Agent]:
    # A daily schedule at the first whole minute at least 75 s from now, in the stack's time zone: the
    # gateway is up well before it, and the test can see it fire.
    now = datetime.datetime.now(zoneinfo.ZoneInfo(TIMEZONE))
    fires_at = (now + datetime.timedelta(seconds=75)).replace(second=0, microsecond=0)
    fires_at += datetime.timedelta(minutes=1)
    prompt = f"scheduled check {secrets.token_hex(6)}"
    schedules = [{"name": SCHEDULE, "cron": f"{fires_at.minute} {fires_at.hour} * * *", "prompt": prompt}]
    rendered = render(
        run,
        "openclaw-agent",
        tenant=TENANT,
        plan="starter",
        params={
            "image": run.image("openclaw"),
            "model": MODEL,
            "schedules": json.dumps(schedules),
            "timezone": TIMEZONE,
        },
    )
    gateway = next(n for n, s in rendered.services.items() if "healthcheck" in s)
    init = next(n for n, s in rendered.services.items() if s.get("restart") == "no")
    state_dir = str(rendered.service(gateway)["environment"]["OPENCLAW_STATE_DIR"])
    with running_stack(run, rendered, name="openclaw-agent", api=api) as stack:
        yield Agent(stack, gateway, init, fires_at, prompt, state_dir)


def hooks(agent: Agent, token: str | None, message: str) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/json", "Idempotency-Key": secrets.token_hex(8)}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    body = json.dumps({"message": message, "name": "stacks-test", "deliver": False})
    result = agent.stack.fakes.probe(
        "POST", f"http://127.0.0.1:{GATEWAY_PORT}/hooks/agent", headers=headers, body=body
    )
    try:
        payload = result.json()
    except ValueError:
        payload = {}
    return result.status, payload if isinstance(payload, dict) else {}


def read_volume(api: Any, agent: Agent, path: str) -> str | None:
    code, output = exec_in(api, agent.container(), ["cat", path])
    return output if code == 0 else None


def automation(api: Any, agent: Agent, job_id: str) -> list[dict[str, Any]]:
    """The gateway's own job list (`openclaw automations list --json`), entries with ``job_id``."""
    code, output = exec_in(api, agent.container(), ["openclaw", "automations", "list", "--json"])
    assert code == 0, output[-2000:]
    jobs: list[dict[str, Any]] = json.loads(output[output.index("{") :])["jobs"]
    return [job for job in jobs if job.get("id") == job_id]


def test_init_seeds_the_config_exits_0_and_the_gateway_becomes_healthy(
    run: RunEnv, api: Any, agent: Agent
) -> None:
    """The one-shot init exits 0 after writing openclaw.json to the volume (secrets only as ${…}
    placeholders); the gateway, started after it, accepts that config and is healthy."""
    init = api.inspect_container(agent.stack.container(agent.init))
    assert init["State"]["Status"] == "exited"
    assert init["State"]["ExitCode"] == 0
    gateway = api.inspect_container(agent.container())
    assert gateway["State"]["Health"]["Status"] == "healthy"
    config_text = read_volume(api, agent, f"{agent.state_dir}/openclaw.json")
    assert config_text is not None
    config = json.loads(config_text)
    assert config["gateway"]["mode"] == "local"
    assert config["hooks"]["enabled"] is True
    assert config["agents"]["defaults"]["model"]["primary"].endswith(MODEL)
    for value in agent.stack.secrets.values():
        assert value not in config_text, "a secret was written into openclaw.json"


def test_docker_and_the_kernel_apply_the_rendered_hardening(run: RunEnv, api: Any, agent: Agent) -> None:
    """Both services as rendered: uid 1000, read-only root, tmpfs, no capabilities, no-new-privileges,
    limits, log rotation, no ports, loopback only (the finished init: what inspect shows)."""
    for service, spec in agent.stack.rendered.services.items():
        found = applied(api, agent.stack.container(service))
        assert hardening_problems(found, spec) == [], service


def test_a_webhook_with_the_hooks_token_runs_the_agent_through_the_router(run: RunEnv, agent: Agent) -> None:
    """`POST /hooks/agent` with the hooks token is admitted (200 with a runId) and the agent's turn
    reaches the fake Router with the stack's Router key and model, carrying the webhook's text."""
    token = agent.stack.secret(generated="OPENCLAW_HOOKS_TOKEN")
    nonce = secrets.token_hex(6)
    status, payload = hooks(agent, token, f"Summarise build {nonce}.")
    assert status == 200, payload
    assert payload.get("ok") is True and payload.get("runId")
    routed = wait_for(
        lambda: [c for c in agent.stack.fakes.calls("router") if nonce in c.get("all_text", "")],
        what="the agent's call to the Router",
        timeout=120,
    )
    router_key = agent.stack.secret(param="router_api_key")
    assert routed[0]["path"] == "/v1/chat/completions"
    assert routed[0]["auth_sha256"] == sha256(router_key)
    assert routed[0]["model"] == MODEL


def test_a_webhook_without_the_hooks_token_is_refused(run: RunEnv, agent: Agent) -> None:
    """No bearer token, the gateway token, or a made-up one: 401, and no agent turn reaches the Router."""
    nonce = secrets.token_hex(6)
    gateway_token = agent.stack.secret(generated="OPENCLAW_GATEWAY_TOKEN")
    for token in (None, secrets.token_urlsafe(32), gateway_token):
        status, _ = hooks(agent, token, f"Do not run {nonce}.")
        assert status == 401
    time.sleep(3)
    assert not [c for c in agent.stack.fakes.calls("router") if nonce in c.get("all_text", "")]


def test_the_scheduled_prompt_is_imported_at_start_and_fires_at_its_time(api: Any, agent: Agent) -> None:
    """The init seeded the schedule as cron/jobs.json; the gateway imported it at start (the file is
    renamed jobs.json.migrated, the job is in its own list as cf-<name>) and ran it at the scheduled
    minute of the stack's time zone: the prompt reached the Router no earlier than that minute."""
    assert read_volume(api, agent, f"{agent.state_dir}/cron/jobs.json.migrated") is not None
    assert read_volume(api, agent, f"{agent.state_dir}/cron/jobs.json") is None
    (job,) = automation(api, agent, f"cf-{SCHEDULE}")
    assert job["schedule"]["tz"] == TIMEZONE
    fired = wait_for(
        lambda: [c for c in agent.stack.fakes.calls("router") if agent.prompt in c.get("all_text", "")],
        what=f"the scheduled prompt (due {agent.fires_at.isoformat()})",
        timeout=max(60.0, agent.fires_at.timestamp() - time.time() + 120),
        interval=1,
    )
    assert len(fired) == 1
    assert fired[0]["t"] >= agent.fires_at.timestamp()
    (job,) = automation(api, agent, f"cf-{SCHEDULE}")
    assert job["state"]["lastRunAtMs"] >= agent.fires_at.timestamp() * 1000


def test_what_the_stack_wrote_survives_a_stop_and_start(run: RunEnv, api: Any, agent: Agent) -> None:
    """`docker compose down` (volumes kept) and `up --wait`: a file written to the volume, openclaw.json
    and the imported job with its last run are still there; the schedule is not seeded twice."""
    marker = f"{agent.state_dir}/workspace/stacks-marker.txt"
    content = secrets.token_hex(8)
    code, output = exec_in(api, agent.container(), ["sh", "-c", f"printf %s {content} > {marker}"])
    assert code == 0, output
    config_before = read_volume(api, agent, f"{agent.state_dir}/openclaw.json")
    (job_before,) = automation(api, agent, f"cf-{SCHEDULE}")
    record_idle(run, api, agent.stack, [agent.gateway], note="after a webhook run and a scheduled run")

    agent.stack.restart()

    assert read_volume(api, agent, marker) == content
    assert read_volume(api, agent, f"{agent.state_dir}/openclaw.json") == config_before
    assert read_volume(api, agent, f"{agent.state_dir}/cron/jobs.json") is None
    (job_after,) = automation(api, agent, f"cf-{SCHEDULE}")
    assert job_after["state"].get("lastRunAtMs") == job_before["state"].get("lastRunAtMs")
    assert api.inspect_container(agent.stack.container(agent.init))["State"]["ExitCode"] == 0
