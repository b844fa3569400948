"""Monitor benchmark against the real Docker engine, with the sidecar as its own process.

    .venv/bin/python bench/monitor.py [--oom 20] [--unhealthy 20] [--loop-seconds 30] [--removals 50]
                                      [--burst 500] [--idle-containers 100] [--idle-seconds 30] [--no-write]

The monitor runs as ``python -m monitor run`` (Apprise → a JSON sink in this process; grouping window 0
so every page is measured on its own, since the first page of a burst is never delayed anyway). This
script follows the Docker event stream itself to know each event's own ``timeNano``:

(a) alert latency from the event's ``timeNano`` to the sink receiving the page, p50/p95, over --oom OOM
    kills (16 MiB limit; measured from the first ``oom`` event and from the ``die`` that confirms the
    container was killed) and --unhealthy health transitions (from ``health_status: unhealthy``);
(b) messages per incident: pages per OOM-killed container, against the kernel's ``oom`` events;
(c) messages for a --loop-seconds crash loop (``restart: always``, ``exit 1``);
(d) false alerts when --removals running labelled containers are removed with ``docker rm -f``;
(e) a burst of --burst container events (signals to running containers from 16 threads, as fast as
    the daemon takes them): events the monitor counted against events Docker emitted (same filter);
(f) the monitor's RSS, threads, open sockets and CPU while idle, with 0 and --idle-containers running
    labelled containers (health-checked every 5 s).

Results replace the monitor section of docs/benchmarks.md (``--no-write`` to only print them).
Containers are labelled ``cf.bench=1`` and removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import docker
import httpx

ROOT = Path(__file__).resolve().parent.parent
IMAGE = "cf/busybox:local"
LABEL = "cf.bench"
ACTIONS = ["start", "die", "kill", "stop", "oom", "destroy", "health_status", "restart"]


def labels(tenant: str, stack: str) -> dict[str, str]:
    return {
        "cf.managed": "true",
        "cf.tenant": tenant,
        "cf.stack": stack,
        "cf.template": "telegram-bot",
        "cf.plan": "starter",
        LABEL: "1",
    }


def wait_until(predicate: Callable[[], Any], timeout: float = 120.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.05)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


class Sink:
    """Records each POSTed JSON body with its arrival time (ns)."""

    def __init__(self) -> None:
        self.received: list[tuple[int, dict[str, Any]]] = []
        self.lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                arrived = time.time_ns()
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with sink.lock:
                    sink.received.append((arrived, json.loads(body or b"{}")))
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def about(self, stack: str, *, resolved: bool = False) -> list[tuple[int, dict[str, Any]]]:
        """Messages about one stack (each benchmark container is a stack of its own)."""
        with self.lock:
            rows = list(self.received)
        return [
            (arrived, message)
            for arrived, message in rows
            if str(message.get("title", "")).endswith(f"/ stack {stack}")
            and str(message.get("title", "")).startswith("[RESOLVED]") == resolved
        ]

    def count(self) -> int:
        with self.lock:
            return len(self.received)


class EventLog:
    """This script's own subscription to the Docker event stream (the same filter as the monitor)."""

    def __init__(self, api: Any) -> None:
        self.events: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.stream = api.events(decode=True, filters={"type": ["container"], "event": ACTIONS})
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for event in self.stream:
            with self.lock:
                self.events.append(event)

    def of(self, name: str, action: str) -> list[int]:
        with self.lock:
            return [
                int(e["timeNano"])
                for e in self.events
                if e["Actor"]["Attributes"].get("name") == name and e["Action"] == action
            ]

    def count_since(self, start_ns: int) -> int:
        with self.lock:
            return sum(1 for e in self.events if int(e["timeNano"]) >= start_ns)

    def close(self) -> None:
        self.stream.close()


class MonitorProcess:
    def __init__(self, data_dir: Path, sink: Sink, port: int) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CFA_")}
        env.update(
            {
                "CFA_DATA_DIR": str(data_dir),
                "CFA_APPRISE_URLS": f"json://127.0.0.1:{sink.port}/hook",
                "CFA_MONITOR_HTTP_PORT": str(port),
                "CFA_MONITOR_GROUP_WINDOW_SECONDS": "0",
                "CFA_MONITOR_RESOLVE_HOLD_SECONDS": "2",
                "CFA_MONITOR_DISK_PATHS": str(data_dir),
                "CFA_MONITOR_HOST_NAME": "bench",
                "CFA_LOG_LEVEL": "WARNING",
            }
        )
        self.port = port
        self.process = subprocess.Popen(
            [sys.executable, "-m", "monitor", "run"], cwd=ROOT, env=env, stderr=subprocess.DEVNULL
        )
        wait_until(self.healthy, what="the monitor to be healthy")

    def healthy(self) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def metric(self, name: str) -> float:
        text = httpx.get(f"http://127.0.0.1:{self.port}/metrics", timeout=5).text
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name) and not line.startswith("#"):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def idle(self) -> bool:
        health = httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=5).json()
        return bool(health["queue"] == 0 and health["outbox"] == {"held": 0, "ready": 0})

    def proc(self) -> dict[str, Any]:
        pid = self.process.pid
        status = Path(f"/proc/{pid}/status").read_text()
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        sockets = sum(
            1 for fd in Path(f"/proc/{pid}/fd").iterdir() if str(fd.readlink()).startswith("socket:")
        )
        return {
            "rss_mb": int(fields["VmRSS"].split()[0]) / 1024,
            "hwm_mb": int(fields["VmHWM"].split()[0]) / 1024,
            "threads": int(fields["Threads"]),
            "sockets": sockets,
            "cpu_ticks": int(stat[11]) + int(stat[12]),
        }

    def cpu_percent(self, seconds: float) -> float:
        before, start = int(self.proc()["cpu_ticks"]), time.monotonic()
        time.sleep(seconds)
        after, elapsed = int(self.proc()["cpu_ticks"]), time.monotonic() - start
        return 100.0 * (after - before) / os.sysconf("SC_CLK_TCK") / elapsed

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(60)


def create(api: Any, name: str, command: list[str], tenant: str, stack: str, **options: Any) -> str:
    healthcheck = options.pop("healthcheck", None)
    config = api.create_host_config(network_mode="none", **options)
    return str(
        api.create_container(
            IMAGE,
            command,
            name=name,
            labels=labels(tenant, stack),
            host_config=config,
            healthcheck=healthcheck,
        )["Id"]
    )


def cleanup(api: Any) -> None:
    for container in api.containers(all=True, filters={"label": LABEL}):
        try:
            api.remove_container(container["Id"], force=True)
        except docker.errors.APIError:
            continue


def settle(monitor: MonitorProcess, destroyed_before: float, expected: int) -> None:
    wait_until(
        lambda: monitor.metric('cfmon_events_total{action="destroy"}') - destroyed_before >= expected,
        what="the monitor to process the removals",
    )
    wait_until(monitor.idle, what="an idle monitor")


def bench_oom(api: Any, monitor: MonitorProcess, sink: Sink, events: EventLog, runs: int) -> dict[str, Any]:
    from_oom: list[float] = []
    from_die: list[float] = []
    pages: list[int] = []
    oom_events: list[int] = []
    names = []
    for i in range(runs):
        name = f"cfb-oom-{i}"
        names.append(name)
        container = create(
            api, name, ["tail", "/dev/zero"], "acme", name, mem_limit="16m", memswap_limit="16m"
        )
        api.start(container)
        api.wait(container, timeout=60)
        arrived = wait_until(partial(sink.about, name), what=f"the OOM page of {name}")[0][0]
        first_oom, die = min(events.of(name, "oom")), min(events.of(name, "die"))
        from_oom.append((arrived - first_oom) / 1e6)
        from_die.append((arrived - die) / 1e6)
    destroyed = monitor.metric('cfmon_events_total{action="destroy"}')
    for name in names:
        api.remove_container(name, force=True)
    settle(monitor, destroyed, runs)
    for name in names:
        pages.append(len(sink.about(name)))
        oom_events.append(len(events.of(name, "oom")))
    return {
        "from_oom_ms": from_oom,
        "from_die_ms": from_die,
        "pages_per_kill": pages,
        "oom_events_per_kill": oom_events,
    }


def bench_unhealthy(
    api: Any, monitor: MonitorProcess, sink: Sink, events: EventLog, runs: int
) -> dict[str, Any]:
    latencies: list[float] = []
    pages: list[int] = []
    resolved: list[int] = []
    check = {
        "test": ["CMD-SHELL", "cat /tmp/ok"],
        "interval": 1_000_000_000,
        "timeout": 5_000_000_000,
        "retries": 1,
    }
    names = []
    for i in range(runs):
        name = f"cfb-health-{i}"
        names.append(name)
        container = create(api, name, ["sleep", "600"], "acme", name, healthcheck=check)
        api.start(container)
        arrived = wait_until(partial(sink.about, name), what=f"the unhealthy page of {name}")[0][0]
        latencies.append((arrived - min(events.of(name, "health_status: unhealthy"))) / 1e6)
        api.exec_start(api.exec_create(container, ["sh", "-c", "echo ok > /tmp/ok"]))
    for name in names:
        wait_until(partial(sink.about, name, resolved=True), what=f"the resolved notice of {name}")
    destroyed = monitor.metric('cfmon_events_total{action="destroy"}')
    for name in names:
        api.remove_container(name, force=True)
    settle(monitor, destroyed, runs)
    for name in names:
        pages.append(len(sink.about(name)))
        resolved.append(len(sink.about(name, resolved=True)))
    return {"from_unhealthy_ms": latencies, "pages": pages, "resolved": resolved}


def bench_crash_loop(
    api: Any, monitor: MonitorProcess, sink: Sink, events: EventLog, seconds: float
) -> dict[str, Any]:
    name = "cfb-loop"
    container = create(api, name, ["sh", "-c", "exit 1"], "acme", name, restart_policy={"Name": "always"})
    api.start(container)
    time.sleep(seconds)
    deaths = len(events.of(name, "die"))
    destroyed = monitor.metric('cfmon_events_total{action="destroy"}')
    api.remove_container(name, force=True)
    settle(monitor, destroyed, 1)
    wait_until(partial(sink.about, name, resolved=True), what="the loop's resolved notice")
    return {
        "seconds": seconds,
        "deaths": deaths,
        "pages": len(sink.about(name)),
        "resolved": len(sink.about(name, resolved=True)),
        "titles": [m["title"] for _, m in sink.about(name)],
    }


def bench_removals(api: Any, monitor: MonitorProcess, sink: Sink, count: int) -> dict[str, Any]:
    names = [f"cfb-rm-{i}" for i in range(count)]
    for name in names:
        api.start(create(api, name, ["sleep", "600"], "acme", name))
    wait_until(monitor.idle, what="an idle monitor")
    destroyed = monitor.metric('cfmon_events_total{action="destroy"}')
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: api.remove_container(n, force=True), names))
    settle(monitor, destroyed, count)
    time.sleep(3)  # longer than the resolve hold: anything pending would have been sent by now
    messages = sum(len(sink.about(name)) + len(sink.about(name, resolved=True)) for name in names)
    return {"removed": count, "messages": messages}


def bench_burst(
    api: Any, monitor: MonitorProcess, sink: Sink, events: EventLog, total: int
) -> dict[str, Any]:
    """``total`` events as fast as 16 threads can make Docker emit them: signals (``kill`` events, which a
    sleeping PID 1 ignores) to 10 running containers; nothing may be lost and nothing paged."""
    names = [f"cfb-burst-{i}" for i in range(10)]
    for name in names:
        api.start(create(api, name, ["sleep", "3600"], "acme", name))
    wait_until(monitor.idle, what="an idle monitor")
    counted_before = monitor.metric("cfmon_events_total")
    messages_before = sink.count()
    start_ns = time.time_ns()
    started = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda i: api.kill(names[i % len(names)], signal="SIGUSR1"), range(total)))
    generation = time.monotonic() - started
    wait_until(lambda: events.count_since(start_ns) >= total, what="Docker to emit the burst")
    emitted = events.count_since(start_ns)
    wait_until(
        lambda: monitor.metric("cfmon_events_total") - counted_before >= emitted,
        timeout=60,
        what="the monitor to count the burst",
    )
    wait_until(monitor.idle, what="an idle monitor")
    counted = int(monitor.metric("cfmon_events_total") - counted_before)
    for name in names:
        api.remove_container(name, force=True)
    return {
        "emitted": emitted,
        "counted": counted,
        "seconds": round(generation, 2),
        "rate": round(emitted / generation),
        "messages": sink.count() - messages_before,
        "dropped": int(monitor.metric("cfmon_events_dropped_total")),
    }


def bench_idle(api: Any, monitor: MonitorProcess, containers: int, seconds: float) -> dict[str, Any]:
    results: dict[str, Any] = {}
    wait_until(monitor.idle, what="an idle monitor")
    time.sleep(2)
    results["empty"] = {**monitor.proc(), "cpu_percent": monitor.cpu_percent(seconds)}
    check = {"test": ["CMD", "true"], "interval": 5_000_000_000, "timeout": 5_000_000_000, "retries": 3}
    for i in range(containers):
        api.start(create(api, f"cfb-idle-{i}", ["sleep", "3600"], "acme", f"idle{i}", healthcheck=check))
    time.sleep(10)
    wait_until(monitor.idle, what="an idle monitor")
    results["loaded"] = {
        **monitor.proc(),
        "cpu_percent": monitor.cpu_percent(seconds),
        "containers": containers,
    }
    return results


def machine() -> dict[str, str]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    api = docker.APIClient(version="auto")
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "ram": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "kernel": platform.release(),
        "docker": f"{api.version()['Version']} (API {api.api_version}, cgroup v{api.info().get('CgroupVersion', '?')})",
        "python": platform.python_version(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def environment() -> Iterator[tuple[Any, Sink, EventLog, MonitorProcess]]:
    api = docker.APIClient(version="auto", timeout=120)
    cleanup(api)
    sink = Sink()
    events = EventLog(api=docker.APIClient(version="auto"))
    with tempfile.TemporaryDirectory(prefix="cfa-bench-monitor-") as data_dir:
        monitor = MonitorProcess(Path(data_dir), sink, free_port())
        try:
            yield api, sink, events, monitor
        finally:
            monitor.stop()
            events.close()
            cleanup(api)
            sink.server.shutdown()


def ms(values: list[float]) -> str:
    return f"{statistics.median(values):.0f} / {percentile(values, 95):.0f} ms"


def render(results: dict[str, Any], command: str) -> str:
    m = results["machine"]
    oom, health = results["oom"], results["unhealthy"]
    loop, removals, burst, idle = (
        results["crash_loop"],
        results["removals"],
        results["burst"],
        results["idle"],
    )
    pages = Counter(oom["pages_per_kill"])
    empty, loaded = idle["empty"], idle["loaded"]
    lines = [
        f"Command: `{command}`",
        "",
        f"Machine: {m['nproc']} vCPU ({m['cpu']}), {m['ram']} RAM, Linux {m['kernel']}, Docker {m['docker']},",
        f"Python {m['python']}. Date: {m['date']}. The monitor ran as its own process (`python -m monitor run`),",
        "grouping window 0 (every page measured alone; the first page of a burst is never delayed), Apprise",
        "`json://` to a sink on 127.0.0.1. Latency is from the Docker event's own `timeNano` to the sink",
        "receiving the page.",
        "",
        "| Measure | Result | Target / peer |",
        "|---|---|---|",
        f"| OOM page latency from the first `oom` event, p50 / p95 ({len(oom['from_oom_ms'])} kills) "
        f"| {ms(oom['from_oom_ms'])} | p95 < 50 ms (peer 5–16 ms) |",
        f"| OOM page latency from the confirming `die` event, p50 / p95 | {ms(oom['from_die_ms'])} | |",
        f"| Unhealthy page latency from `health_status: unhealthy`, p50 / p95 ({len(health['from_unhealthy_ms'])}) "
        f"| {ms(health['from_unhealthy_ms'])} | p95 < 50 ms (peer 5–16 ms) |",
        f"| Pages per OOM kill (kernel `oom` events per kill: {min(oom['oom_events_per_kill'])}–"
        f"{max(oom['oom_events_per_kill'])}) | {dict(sorted(pages.items()))} (pages: kills) | exactly 1 (peer 3–19) |",
        f"| Messages per unhealthy incident: pages / resolved notices | {sorted(set(health['pages']))} / "
        f"{sorted(set(health['resolved']))} | 1 + 1 |",
        f"| Messages for a {loop['seconds']:.0f} s crash loop ({loop['deaths']} deaths): pages / resolved "
        f"| {loop['pages']} / {loop['resolved']} | 1 (peer 16) |",
        f"| False alerts, {removals['removed']} labelled containers removed with `docker rm -f` "
        f"| {removals['messages']} | 0 (peer: one per container) |",
        f"| Burst of `kill` events ({burst['seconds']} s, about {burst['rate']}/s): emitted / counted by the "
        f"monitor | {burst['emitted']} / {burst['counted']} (dropped {burst['dropped']}, {burst['messages']} "
        "messages) | none lost |",
        f"| Idle, 0 containers: RSS / threads / sockets / CPU | {empty['rss_mb']:.1f} MB / {empty['threads']} / "
        f"{empty['sockets']} / {empty['cpu_percent']:.2f} % | RSS < 60 MB (peer 60–65 MB) |",
        f"| Idle, {loaded['containers']} running labelled containers (health check every 5 s) "
        f"| {loaded['rss_mb']:.1f} MB / {loaded['threads']} / {loaded['sockets']} / {loaded['cpu_percent']:.2f} % "
        f"| no thread or connection per container (peer: a thread each) |",
        f"| Peak RSS over the whole run (VmHWM) | {loaded['hwm_mb']:.1f} MB | |",
    ]
    health_p95 = percentile(health["from_unhealthy_ms"], 95)
    oom_p95, die_p95 = percentile(oom["from_oom_ms"], 95), percentile(oom["from_die_ms"], 95)
    one_per_kill = set(oom["pages_per_kill"]) == {1}
    lost = burst["emitted"] - burst["counted"]
    reading = (
        f"Reading: the unhealthy page {'meets' if health_p95 < 50 else 'misses'} the 50 ms p95 target "
        f"({health_p95:.0f} ms). The OOM page {'meets' if oom_p95 < 50 else 'misses'} it when measured from the "
        f"`oom` event ({oom_p95:.0f} ms): by design it waits for the container's `die` to tell a killed container "
        "from a killed process (one correct page instead of one per `oom` event), and on this engine the `die` "
        "comes about 50–60 ms after the `oom`; inspect after a `die` also waits while the daemon cleans the "
        f"container up. From the `die` the p95 is {die_p95:.0f} ms. Figures vary by tens of milliseconds between "
        "runs on this 2-vCPU machine (the benchmark, dockerd and the monitor share it). "
        f"{'Exactly one page per OOM kill' if one_per_kill else 'NOT one page per OOM kill'}, "
        f"{loop['pages']} page(s) for the crash loop, {removals['messages']} message(s) for operator removals, "
        f"{lost} event(s) lost in the burst; RSS {loaded['rss_mb']:.0f} MB with {loaded['threads']} threads (event "
        f"loop, event reader, the fixed pool for blocking calls) and {loaded['sockets']} sockets with "
        f"{loaded['containers']} containers as with none."
    )
    lines += ["", textwrap.fill(reading, width=110, break_long_words=False, break_on_hyphens=False)]
    return "\n".join(lines)


def write_docs(section: str) -> None:
    path = ROOT / "docs" / "benchmarks.md"
    text = path.read_text()
    new = re.sub(
        r"(<!-- monitor:begin -->\n).*?(\n<!-- monitor:end -->)",
        lambda match: match.group(1) + section + match.group(2),
        text,
        flags=re.S,
    )
    path.write_text(new)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--oom", type=int, default=20)
    parser.add_argument("--unhealthy", type=int, default=20)
    parser.add_argument("--loop-seconds", type=float, default=30.0)
    parser.add_argument("--removals", type=int, default=50)
    parser.add_argument("--burst", type=int, default=500)
    parser.add_argument("--idle-containers", type=int, default=100)
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    command = "python bench/monitor.py " + " ".join(sys.argv[1:])
    results: dict[str, Any] = {"machine": machine()}
    with environment() as (api, sink, events, monitor):
        results["idle"] = {}
        steps: dict[str, Callable[[], dict[str, Any]]] = {
            "oom": lambda: bench_oom(api, monitor, sink, events, args.oom),
            "unhealthy": lambda: bench_unhealthy(api, monitor, sink, events, args.unhealthy),
            "crash_loop": lambda: bench_crash_loop(api, monitor, sink, events, args.loop_seconds),
            "removals": lambda: bench_removals(api, monitor, sink, args.removals),
            "burst": lambda: bench_burst(api, monitor, sink, events, args.burst),
            "idle": lambda: bench_idle(api, monitor, args.idle_containers, args.idle_seconds),
        }
        for key, step in steps.items():
            started = time.monotonic()
            results[key] = step()
            print(f"{key}: done in {time.monotonic() - started:.0f} s", file=sys.stderr)
    print(json.dumps(results, indent=2, default=str))
    section = render(results, command.strip())
    print(section)
    if not args.no_write:
        write_docs(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
