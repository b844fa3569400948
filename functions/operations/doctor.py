"""``cfa doctor``: check every dependency and say what to do about each failure.

The Coolify ability probes send requests that cannot change anything: a project create with an empty
name (422 if the token may write, 403 if not) and a start of a service that does not exist (404 if
the token may deploy, 403 if not). They do show up in Coolify's own audit log.
"""

from __future__ import annotations

from typing import Literal

import httpx
from pydantic import BaseModel

from functions.context import Context
from functions.operations.capacity import capacity_report
from functions.operations.coolify_resources import choose_server
from functions.operations.hooks import HANDLED
from shared.catalog import load_catalog
from shared.errors import AuthError, CfaError, NotFoundError, RejectedError
from shared.examples import example_params
from shared.params import validate_params
from shared.plans import PLAN_ORDER, get_plan
from shared.pocketbase.client import PocketBase
from shared.rendering import render_stack
from shared.settings import Settings

Outcome = Literal["ok", "warn", "fail", "skip"]
REQUIRED_COLLECTIONS = (
    "tenants",
    "stacks",
    "stack_secrets",
    "audit_events",
    "operation_locks",
    "secret_inputs",
    "realtime_probes",
    "webhook_receipts",
)


class Check(BaseModel):
    name: str
    outcome: Outcome
    detail: str
    advice: str = ""


async def check_pocketbase(pb: PocketBase) -> list[Check]:
    if not await pb.health():
        return [
            Check(
                name="pocketbase",
                outcome="fail",
                detail=f"{pb.base_url} does not answer",
                advice="check CFA_POCKETBASE_URL, or unset it to use the embedded PocketBase",
            )
        ]
    checks = [Check(name="pocketbase", outcome="ok", detail=f"{pb.base_url} is healthy")]
    try:
        missing = [name for name in REQUIRED_COLLECTIONS if await pb.get_collection(name) is None]
    except CfaError as err:
        return [*checks, Check(name="pocketbase auth", outcome="fail", detail=err.message, advice=err.advice)]
    checks.append(Check(name="pocketbase auth", outcome="ok", detail="superuser login works"))
    if missing:
        checks.append(
            Check(
                name="pocketbase schema",
                outcome="fail",
                detail=f"missing: {', '.join(missing)}",
                advice="run cfa pb migrate",
            )
        )
    else:
        checks.append(Check(name="pocketbase schema", outcome="ok", detail="all collections present"))
    return checks


async def _probe(ctx: Context, path: str, body: object, expected: type[CfaError], ability: str) -> Check:
    """POST something harmless; ``expected`` is the error a token *with* the ability gets."""
    name = f"coolify ability {ability}"
    try:
        await ctx.coolify.diagnostic_post(path, body)
    except AuthError as err:
        return Check(
            name=name, outcome="fail", detail=err.message, advice=f"give the token the {ability} ability"
        )
    except expected:
        return Check(name=name, outcome="ok", detail=f"the token may {ability}")
    except CfaError as err:
        return Check(name=name, outcome="warn", detail=f"unexpected answer to the probe: {err.message}")
    return Check(name=name, outcome="warn", detail="the probe unexpectedly succeeded")


def _skip(name: str, why: str) -> Check:
    return Check(name=name, outcome="skip", detail=why)


async def check_coolify(ctx: Context) -> list[Check]:
    """The API (a wrong URL is named as such), the token's abilities and the server choice. A failed
    API check marks the checks that need it as skipped; nothing else stops."""
    settings = ctx.settings
    if settings.coolify_url is None:
        return [
            Check(
                name="coolify",
                outcome="warn",
                detail="CFA_COOLIFY_URL is not set: every Coolify write is a dry run",
                advice="set CFA_COOLIFY_URL and CFA_COOLIFY_TOKEN to provision for real",
            )
        ]
    names = ["coolify ability read", "coolify ability write", "coolify ability deploy", "coolify server"]
    try:
        version = await ctx.coolify.version()
    except CfaError as err:
        failed = Check(name="coolify", outcome="fail", detail=err.message, advice=err.advice)
        return [failed, *(_skip(n, "needs a working Coolify API (see the coolify check)") for n in names)]
    checks = [
        Check(name="coolify", outcome="ok", detail=f"{settings.coolify_api_base} answers, version {version}")
    ]
    try:
        servers = await ctx.coolify.list_servers()
        checks.append(
            Check(name="coolify ability read", outcome="ok", detail=f"{len(servers)} server(s) visible")
        )
    except CfaError as err:
        servers = []
        checks.append(
            Check(name="coolify ability read", outcome="fail", detail=err.message, advice=err.advice)
        )
    checks.append(await _probe(ctx, "/projects", {"name": ""}, RejectedError, "write"))
    checks.append(await _probe(ctx, "/services/cfa-doctor-probe/start", None, NotFoundError, "deploy"))
    try:
        placement = await choose_server(ctx)
    except CfaError as err:
        checks.append(Check(name="coolify server", outcome="fail", detail=err.message, advice=err.advice))
    else:
        chosen = next((s for s in servers if s.uuid == placement.server_uuid), None)
        how = "CFA_COOLIFY_SERVER_UUID" if settings.coolify_server_uuid else "first usable and reachable"
        label = f"{chosen.name} ({chosen.uuid})" if chosen else placement.server_uuid
        detail = f"{label}, chosen as {how}"
        if settings.capacity and not settings.coolify_server_uuid:
            detail = "new stacks go to the budgeted server with the most headroom (see capacity)"
        checks.append(Check(name="coolify server", outcome="ok", detail=detail))
    return checks


async def check_capacity(ctx: Context) -> list[Check]:
    """The host budget (CFA_CAPACITY) against the servers Coolify lists: every budgeted server exists
    and is usable, new stacks have somewhere to go, and no server is already over its budget."""
    if not ctx.settings.capacity:
        return [
            Check(
                name="capacity",
                outcome="warn",
                detail="CFA_CAPACITY is not set: capacity is unknown and no provision is refused for it",
                advice="set a budget per Coolify server (docs/capacity.md); cfa capacity shows the claims",
            )
        ]
    if ctx.settings.coolify_url is None:
        return [_skip("capacity", "needs Coolify (CFA_COOLIFY_URL) to compare CFA_CAPACITY with its servers")]
    try:
        report = await capacity_report(ctx)
    except CfaError as err:
        return [Check(name="capacity", outcome="fail", detail=err.message, advice=err.advice)]
    checks = []
    for server in report.servers:
        label = f"{server.name} ({server.uuid})" if server.name else server.uuid
        if server.budget_source == "server" and server.coolify != "usable":
            checks.append(
                Check(
                    name="capacity",
                    outcome="fail",
                    detail=f"CFA_CAPACITY budgets server {label}, which is {server.coolify}",
                    advice="fix the server in Coolify, or remove or correct its uuid in CFA_CAPACITY "
                    "(cfa capacity lists the servers Coolify reports)",
                )
            )
        over = [line.resource for line in server.resources if line.free is not None and line.free < 0]
        if over:
            checks.append(
                Check(
                    name="capacity",
                    outcome="warn",
                    detail=f"server {label} is over its budget in {', '.join(over)}",
                    advice="nothing more is placed there; raise its budget or move stacks (cfa capacity)",
                )
            )
    takers = [s.name or s.uuid for s in report.servers if s.new_stacks]
    if not takers:
        checks.append(
            Check(
                name="capacity",
                outcome="fail",
                detail="no usable Coolify server has a budget in CFA_CAPACITY: every new stack is refused",
                advice='add the servers\' uuids, or a "default" entry, to CFA_CAPACITY',
            )
        )
    if not any(c.outcome == "fail" for c in checks):
        checks.append(
            Check(
                name="capacity",
                outcome="ok",
                detail=f"new stacks go to {', '.join(takers)} (cfa capacity shows allocated / budget)",
            )
        )
    return checks


def check_settings(settings: Settings) -> list[Check]:
    checks = []
    if settings.base_domain is None:
        checks.append(
            Check(
                name="base domain",
                outcome="warn",
                detail="CFA_BASE_DOMAIN is not set",
                advice="templates with a public URL cannot be provisioned until it is set",
            )
        )
    else:
        checks.append(
            Check(
                name="base domain", outcome="ok", detail=f"stacks get <stack>-<tenant>.{settings.base_domain}"
            )
        )
    if settings.router_url is None:
        checks.append(
            Check(
                name="router",
                outcome="warn",
                detail="CFA_ROUTER_URL is not set",
                advice="templates that talk to the Router cannot be provisioned until it is set",
            )
        )
    else:
        checks.append(Check(name="router", outcome="ok", detail=str(settings.router_url)))
    return checks


async def check_hooks(ctx: Context) -> list[Check]:
    """Whether Coolify's webhook channel points at cfa serve, and whether cfa serve answers."""
    settings = ctx.settings
    if settings.coolify_url is None:
        return []
    if settings.functions_url is None:
        return [
            Check(
                name="webhooks",
                outcome="warn",
                detail="CFA_FUNCTIONS_URL is not set: cannot check Coolify's webhook channel or cfa serve",
                advice="set CFA_FUNCTIONS_URL to where Coolify reaches cfa serve, then cfa hooks install",
            )
        ]
    base = str(settings.functions_url).rstrip("/")
    checks = []
    try:
        channel = await ctx.coolify.get_webhook_notifications()
    except CfaError as err:
        checks.append(Check(name="webhooks", outcome="fail", detail=err.message, advice=err.advice))
    else:
        url = channel.get("webhook_url")
        missing = [k for k, on in HANDLED.items() if on and not channel.get(k)]
        if not channel.get("webhook_enabled") or missing:
            detail = (
                "Coolify's webhook channel is off"
                if not channel.get("webhook_enabled")
                else (f"events not sent: {', '.join(missing)}")
            )
            checks.append(
                Check(
                    name="webhooks",
                    outcome="fail",
                    detail=detail,
                    advice=f"run cfa hooks install --url {base}",
                )
            )
        elif url is not None and not str(url).startswith(f"{base}/hooks/coolify/"):
            checks.append(
                Check(
                    name="webhooks",
                    outcome="fail",
                    detail="Coolify's webhook channel points elsewhere",
                    advice=f"run cfa hooks install --url {base}",
                )
            )
        else:
            seen = "" if url is not None else " (its URL is hidden from this token: not compared)"
            checks.append(
                Check(name="webhooks", outcome="ok", detail=f"Coolify sends the handled events{seen}")
            )
    try:
        async with httpx.AsyncClient(timeout=5.0) as http:
            answer = await http.get(f"{base}/healthz")
        ok = answer.status_code == 200
        detail = f"{base}/healthz answered {answer.status_code}"
    except httpx.HTTPError as err:
        ok, detail = False, f"{base}/healthz: {type(err).__name__}"
    checks.append(
        Check(
            name="functions",
            outcome="ok" if ok else "fail",
            detail=detail,
            advice=""
            if ok
            else "start cfa serve (the functions service of compose.yml) and check CFA_FUNCTIONS_URL",
        )
    )
    return checks


def check_compose(ctx: Context) -> list[Check]:
    """Whether a Compose v2 binary is there to load every render as the Coolify host will."""
    try:
        loader = ctx.compose_loader
    except CfaError as err:
        return [Check(name="compose", outcome="fail", detail=err.message, advice=err.advice)]
    if loader is None:
        return [
            Check(
                name="compose",
                outcome="warn",
                detail="no Docker Compose v2 found: renders are not checked by Compose's own loader",
                advice="install Docker Compose v2 or set CFA_COMPOSE_BINARY (scripts/compose-v2 fetches one)",
            )
        ]
    detail = f"{loader.label} ({loader.binary}) loads every render"
    return [Check(name="compose", outcome="ok", detail=detail)]


def check_templates(ctx: Context) -> list[Check]:
    """Every template renders with its example values and passes the policy (and Compose's loader, when
    there is one) on every plan it offers."""
    problems = []
    try:
        loader = ctx.compose_loader
    except CfaError:
        loader = None  # check_compose reports it
    try:
        catalog = load_catalog(ctx.settings.templates_dir)
        for template in catalog:
            params = validate_params(template, example_params(template))
            for plan_name in PLAN_ORDER[PLAN_ORDER.index(template.meta.plan_minimum) :]:
                try:
                    render_stack(
                        template,
                        tenant="doctor",
                        plan=get_plan(plan_name, ctx.settings),
                        stack="check",
                        params=params,
                        base_domain=ctx.settings.base_domain or "example.invalid",
                        router_url=str(ctx.settings.router_url or "https://router.invalid/v1"),
                        loader=loader,
                    )
                except CfaError as err:
                    problems.append(f"{template.name}/{plan_name}: {err.message}")
    except CfaError as err:
        return [Check(name="templates", outcome="fail", detail=err.message, advice=err.advice)]
    if problems:
        return [
            Check(name="templates", outcome="fail", detail="; ".join(problems), advice="fix the templates")
        ]
    how = f"pass the policy and {loader.label}" if loader else "pass the policy"
    return [
        Check(
            name="templates",
            outcome="ok",
            detail=f"{len(catalog.names())} template(s) render and {how} on every plan",
        )
    ]


async def doctor(ctx: Context) -> list[Check]:
    """Every check, each on its own: a failure is reported and the next check still runs."""
    checks = check_settings(ctx.settings)
    checks += await check_pocketbase(ctx.pb)
    checks += await check_coolify(ctx)
    checks += await check_capacity(ctx)
    checks += await check_hooks(ctx)
    checks += check_compose(ctx)
    checks += check_templates(ctx)
    return checks


def setup_failed(settings: Settings, error: CfaError) -> list[Check]:
    """What doctor can still say when the clients cannot even be built (e.g. a URL without a token)."""
    return [
        *check_settings(settings),
        Check(name="configuration", outcome="fail", detail=error.message, advice=error.advice),
    ]
