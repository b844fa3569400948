"""What Docker and the kernel actually applied to a running container, compared with what the rendered
compose asked for: ``docker inspect`` for the configuration, and the container's main process in the
host's ``/proc`` and its cgroup for the effect (uid, capabilities, no-new-privileges, read-only root,
network interfaces, pids/memory/CPU limits)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from shared.catalog import parse_size


@dataclass(frozen=True)
class Applied:
    """A running container as the kernel sees it."""

    inspect: dict[str, Any]
    pid: int

    @property
    def host_config(self) -> dict[str, Any]:
        config: dict[str, Any] = self.inspect["HostConfig"]
        return config

    def status(self) -> dict[str, str]:
        lines = Path(f"/proc/{self.pid}/status").read_text().splitlines()
        return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in lines)}

    def root_mount_options(self) -> set[str]:
        for line in Path(f"/proc/{self.pid}/mountinfo").read_text().splitlines():
            fields = line.split()
            if fields[4] == "/":
                return set(fields[5].split(","))
        raise AssertionError("the container has no root mount")

    def mount(self, target: str) -> tuple[str, set[str]] | None:
        """The filesystem type and options (mount and super block) of the mount at ``target``."""
        for line in Path(f"/proc/{self.pid}/mountinfo").read_text().splitlines():
            fields = line.split()
            if fields[4] == target:
                separator = fields.index("-")
                options = set(fields[5].split(",")) | set(fields[separator + 3].split(","))
                return fields[separator + 1], options
        return None

    def interfaces(self) -> set[str]:
        lines = Path(f"/proc/{self.pid}/net/dev").read_text().splitlines()[2:]
        return {line.split(":")[0].strip() for line in lines}

    def cgroup(self, controller: str, name: str) -> str:
        for line in Path(f"/proc/{self.pid}/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            if controller in controllers.split(","):
                return (Path("/sys/fs/cgroup") / controller / path.lstrip("/") / name).read_text().strip()
        raise AssertionError(f"no {controller} cgroup")

    def peak_process_rss(self) -> int:
        """The largest peak resident set (VmHWM) of the container's processes, in bytes."""
        peaks = [0]
        for pid in self.cgroup("memory", "cgroup.procs").split():
            try:
                lines = Path(f"/proc/{pid}/status").read_text().splitlines()
            except FileNotFoundError:  # it exited meanwhile
                continue
            peaks += [int(line.split()[1]) * 1024 for line in lines if line.startswith("VmHWM:")]
        return max(peaks)

    def memory_stat(self) -> dict[str, int]:
        text = self.cgroup("memory", "memory.stat")
        return {k: int(v) for k, v in (line.split() for line in text.splitlines())}


def applied(api: Any, container: str) -> Applied:
    """The container as inspected; ``pid`` is 0 when it is not running (then only the configuration
    can be checked)."""
    info: dict[str, Any] = api.inspect_container(container)
    return Applied(info, int(info["State"]["Pid"] or 0))


def exec_in(api: Any, container: str, command: list[str], *, user: str = "") -> tuple[int, str]:
    """Run ``command`` in the running container (as its own user unless ``user``); exit code and output."""
    exec_id = api.exec_create(container, command, user=user, stdout=True, stderr=True)["Id"]
    output = api.exec_start(exec_id).decode(errors="replace")
    return int(api.exec_inspect(exec_id)["ExitCode"]), output


def _uid(user: str) -> str:
    return user.split(":", 1)[0]


def hardening_problems(found: Applied, service: dict[str, Any]) -> list[str]:
    """Every way the running container differs from the hardening its rendered ``service`` asks for.

    Checked: user (and the process's real uid), read-only root (the mount), tmpfs mounts, dropped
    capabilities (CapEff and CapBnd 0 when ALL are dropped), no-new-privileges (the NoNewPrivs bit),
    init, pids/memory/CPU limits (HostConfig and the cgroup files), log driver and rotation, no
    published ports, not privileged, and no network interface but loopback. For a container that is
    not running (a finished one-shot) only what ``docker inspect`` shows.
    """
    problems: list[str] = []
    hc, cfg = found.host_config, found.inspect["Config"]
    live = found.pid > 0
    status = found.status() if live else {}

    def expect(what: str, actual: object, wanted: object) -> None:
        if actual != wanted:
            problems.append(f"{what}: {actual!r}, rendered {wanted!r}")

    if "user" in service:
        expect("user", cfg.get("User"), str(service["user"]))
        if live:
            expect("process uid", status["Uid"].split()[:2], [_uid(str(service["user"]))] * 2)
    expect("read-only root (inspect)", bool(hc.get("ReadonlyRootfs")), bool(service.get("read_only", False)))
    if live:
        wanted_ro = bool(service.get("read_only", False))
        expect("read-only root (mount)", "ro" in found.root_mount_options(), wanted_ro)
    for entry in service.get("tmpfs", []) or []:
        path, _, options = str(entry).partition(":")
        expect(f"tmpfs {path} (inspect)", (hc.get("Tmpfs") or {}).get(path), options)
        mounted = found.mount(path) if live else ("tmpfs", {"rw"})
        if mounted is None or mounted[0] != "tmpfs" or "rw" not in mounted[1]:
            problems.append(f"tmpfs {path}: mounted as {mounted!r}")
    expect("cap_drop", sorted(hc.get("CapDrop") or []), sorted(service.get("cap_drop", [])))
    expect("cap_add", hc.get("CapAdd") or [], service.get("cap_add", []))
    if live and "ALL" in service.get("cap_drop", []) and not service.get("cap_add"):
        expect("CapEff", status["CapEff"], "0000000000000000")
        expect("CapBnd", status["CapBnd"], "0000000000000000")
    if "no-new-privileges:true" in service.get("security_opt", []):
        if live:
            expect("NoNewPrivs", status["NoNewPrivs"], "1")
        if "no-new-privileges:true" not in (hc.get("SecurityOpt") or []):
            problems.append(f"security_opt: {hc.get('SecurityOpt')!r} lacks no-new-privileges:true")
    if "init" in service:
        expect("init", bool(hc.get("Init")), bool(service["init"]))
    if "pids_limit" in service:
        expect("pids limit (inspect)", hc.get("PidsLimit"), int(service["pids_limit"]))
        if live:
            expect("pids.max (cgroup)", found.cgroup("pids", "pids.max"), str(service["pids_limit"]))
    if "mem_limit" in service:
        wanted = parse_size(str(service["mem_limit"]))
        expect("memory limit (inspect)", hc.get("Memory"), wanted)
        if live:
            expect(
                "memory.limit_in_bytes (cgroup)", int(found.cgroup("memory", "memory.limit_in_bytes")), wanted
            )
    if "cpus" in service:
        wanted_nano = round(float(service["cpus"]) * 1e9)
        expect("NanoCpus (inspect)", hc.get("NanoCpus"), wanted_nano)
        if live:
            period = int(found.cgroup("cpu", "cpu.cfs_period_us"))
            quota = int(found.cgroup("cpu", "cpu.cfs_quota_us"))
            expect("cpu quota / period (cgroup)", round(quota / period, 3), round(float(service["cpus"]), 3))
    if "logging" in service:
        logging = service["logging"]
        expect("log driver", hc["LogConfig"]["Type"], logging.get("driver", "json-file"))
        expect("log options", hc["LogConfig"].get("Config") or {}, dict(logging.get("options") or {}))
    expect("published ports", hc.get("PortBindings") or {}, {})
    expect("privileged", bool(hc.get("Privileged")), False)
    if live:
        expect("network interfaces", found.interfaces(), {"lo"})
    return problems


def _parse_time(value: str) -> datetime:
    # Docker prints nanoseconds; datetime takes microseconds.
    value = re.sub(r"(\.\d{6})\d*", r"\1", value.replace("Z", "+00:00"))
    return datetime.fromisoformat(value)


def seconds_to_healthy(inspect: dict[str, Any]) -> float | None:
    """From the container's start to the end of its first passing healthcheck that Docker still keeps
    (it keeps five: read this right after ``up --wait``), or None if none passed."""
    health = inspect["State"].get("Health") or {}
    started = _parse_time(inspect["State"]["StartedAt"])
    passed = [_parse_time(e["End"]) for e in health.get("Log") or [] if e.get("ExitCode") == 0]
    return (min(passed) - started).total_seconds() if passed else None


def memory_figures(found: Applied) -> dict[str, int]:
    """Memory of the container: the cgroup's anonymous RSS now, its usage now and at its peak (page
    cache included: cgroup v1's usage_in_bytes and max_usage_in_bytes), how often usage hit the limit
    (failcnt: the kernel then reclaimed cache), and the largest peak RSS of one of its processes."""
    stat = found.memory_stat()
    return {
        "rss_bytes": stat.get("total_rss", stat.get("rss", 0)),
        "usage_bytes": int(found.cgroup("memory", "memory.usage_in_bytes")),
        "peak_bytes": int(found.cgroup("memory", "memory.max_usage_in_bytes")),
        "limit_hits": int(found.cgroup("memory", "memory.failcnt")),
        "peak_process_rss_bytes": found.peak_process_rss(),
    }
