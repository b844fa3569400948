"""Other sessions on a shared engine, simulated: tenant containers that crash, are OOM-killed, turn
unhealthy, loop and are stopped or removed, over and over, until stopped.

    .venv/bin/python -m tests.monitor.churn [--seconds 600] [--workers 3]

Run it beside the monitor suite (``CI=true .venv/bin/pytest tests/monitor``) to check that the
end-to-end tests only look at their own containers: every monitor a test starts sees these too and
pages them into the test's sink. The tenants and stacks are the names tests commonly use (``acme``,
``bot`` …), on purpose. Its containers carry ``cf.managed=true`` and ``cf.test.churn=<id>``; they are
removed when it stops (Ctrl-C, SIGTERM or ``--seconds``). It is a tool, not a test.
"""

from __future__ import annotations

import argparse
import random
import signal
import sys
import threading
import uuid
from collections.abc import Callable
from typing import Any

from tests.monitor.conftest import new_client
from tests.monitor.support import IMAGE

CHURN_LABEL = "cf.test.churn"
TENANTS = ("acme", "quiet", "loud", "globex")
STACKS = ("bot", "web", "worker", "job", "api", "gone", "cron", "later", "files", "proxied", "s0", "s1")


class Churn:
    def __init__(self, run_id: str, stop: threading.Event) -> None:
        self.run_id = run_id
        self.stop = stop
        self.api = new_client()
        self.done: dict[str, int] = {}

    def _create(self, command: list[str], **options: Any) -> str:
        healthcheck = options.pop("healthcheck", None)
        labels = {
            "cf.managed": "true",
            "cf.tenant": random.choice(TENANTS),
            "cf.stack": random.choice(STACKS),
            "cf.template": "telegram-bot",
            "cf.plan": "starter",
            CHURN_LABEL: self.run_id,
        }
        container = self.api.create_container(
            IMAGE,
            command,
            name=f"cft-churn-{uuid.uuid4().hex[:8]}",
            labels=labels,
            healthcheck=healthcheck,
            host_config=self.api.create_host_config(network_mode="none", **options),
        )
        container_id = str(container["Id"])
        self.api.start(container_id)
        return container_id

    def crash(self) -> None:
        self.api.wait(self._create(["sh", "-c", "exit 3"]), timeout=60)

    def crash_removed_on_exit(self) -> None:
        self._create(["sh", "-c", "sleep 0.2; exit 5"], auto_remove=True)

    def oom(self) -> None:
        self.api.wait(self._create(["tail", "/dev/zero"], mem_limit="16m", memswap_limit="16m"), timeout=60)

    def unhealthy(self) -> None:
        check = {"test": ["CMD", "false"], "interval": 300_000_000, "timeout": 1_000_000_000, "retries": 1}
        container = self._create(["sleep", "600"], healthcheck=check)
        self.stop.wait(1.5)
        self.api.remove_container(container, force=True)

    def crash_loop(self) -> None:
        container = self._create(["sh", "-c", "exit 1"], restart_policy={"Name": "always"})
        self.stop.wait(3)
        self.api.remove_container(container, force=True)

    def stop_and_remove(self) -> None:
        container = self._create(["sleep", "600"])
        self.api.stop(container, timeout=1)
        self.api.remove_container(container, force=True)

    def run(self) -> None:
        scenarios: list[Callable[[], None]] = [
            self.crash,
            self.crash_removed_on_exit,
            self.oom,
            self.unhealthy,
            self.crash_loop,
            self.stop_and_remove,
        ]
        while not self.stop.is_set():
            scenario = random.choice(scenarios)
            try:
                scenario()
            except Exception as err:  # the engine is busy with others' tests: go on
                sys.stderr.write(f"churn: {scenario.__name__}: {type(err).__name__}: {err}\n")
                self.stop.wait(1)
                continue
            self.done[scenario.__name__] = self.done.get(scenario.__name__, 0) + 1
            self.remove_exited()

    def remove_exited(self) -> None:
        filters = {"label": f"{CHURN_LABEL}={self.run_id}", "status": "exited"}
        for container in self.api.containers(all=True, filters=filters):
            try:
                self.api.remove_container(container["Id"], force=True)
            except Exception:  # noqa: S112 - removed meanwhile
                continue


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--workers", type=int, default=3)
    args = parser.parse_args()
    run_id, stop = uuid.uuid4().hex[:10], threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())  # `kill <pid>` cleans up as Ctrl-C does
    workers = [Churn(run_id, stop) for _ in range(args.workers)]
    threads = [threading.Thread(target=w.run, daemon=True) for w in workers]
    for thread in threads:
        thread.start()
    try:
        stop.wait(args.seconds)
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        for thread in threads:
            thread.join(90)
        api = new_client()
        for container in api.containers(all=True, filters={"label": f"{CHURN_LABEL}={run_id}"}):
            api.remove_container(container["Id"], force=True)
        totals: dict[str, int] = {}
        for worker in workers:
            for name, count in worker.done.items():
                totals[name] = totals.get(name, 0) + count
        sys.stderr.write(f"churn {run_id}: {totals}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
