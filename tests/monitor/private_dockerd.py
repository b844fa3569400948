"""A Docker daemon of the test's own, for tests that stop and restart the daemon.

The machine's engine is shared with other tests (and other people's test runs): it is never stopped or
reconfigured. A private ``dockerd`` gets its own socket, data root, exec root (and so its own managed
containerd) and pid file under a short temporary path (unix socket paths are limited to 108 bytes),
and the busybox test image copied from the shared engine.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from tests.monitor.support import IMAGE, wait_until


class PrivateDockerd:
    """``start()`` / ``stop()`` (SIGTERM to its own pid, as a host shutdown would) / ``remove()``."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="cfd-", dir="/tmp"))
        self.socket = self.root / "docker.sock"
        self.pidfile = self.root / "docker.pid"
        self.url = f"unix://{self.socket}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        dockerd = shutil.which("dockerd") or "/usr/bin/dockerd"
        log = (self.root / "dockerd.log").open("ab")
        self._process = subprocess.Popen(
            [
                dockerd,
                "-H",
                self.url,
                "--data-root",
                str(self.root / "data"),
                "--exec-root",
                str(self.root / "exec"),
                "--pidfile",
                str(self.pidfile),
                "--bridge=none",
                "--iptables=false",
                "--ip6tables=false",
            ],
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        log.close()
        wait_until(self._answers, timeout=120, interval=0.2, what="the private dockerd to answer")

    def _answers(self) -> bool:
        import docker

        if not self.socket.exists():
            return False
        # A fixed version: "auto" would connect in the constructor, where a failure leaks the socket.
        client = docker.APIClient(base_url=self.url, version="1.41", timeout=5)
        try:
            return bool(client.ping())
        except Exception:
            return False
        finally:
            client.close()

    def client(self) -> Any:
        import docker

        return docker.APIClient(base_url=self.url, version="auto", timeout=60)

    def load_image_from(self, shared: Any) -> None:
        """Copy the test image from the shared engine (a read there)."""
        api = self.client()
        try:
            api.load_image(b"".join(shared.get_image(IMAGE)))
        finally:
            api.close()

    def stop(self) -> None:
        process = self._process
        if process is None or process.poll() is not None:
            return
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
