"""Backup benchmark on the real Docker engine: a 1 GiB volume of random data, a full backup, 10 % of
the bytes changed, a second backup — time and repository growth — and a restore of the second snapshot.

    .venv/bin/python bench/backup.py [--size-mib 1024] [--changed 0.10] [--image cf/busybox:local]
    make bench-backup

Three ways to back up the same volume, measured in the same run:

- **cfa** (what ``cfa backup run`` does): the Docker archive endpoint streams the volume as one tar into
  ``restic backup --stdin`` (functions/operations/backups);
- **restic on the mountpoint** (the peer that needs root on the host, "Option A"): restic reads
  ``/var/lib/docker/volumes/<name>/_data`` and skips unchanged files;
- **hand-rolled tar**: the same tar stream written to a file each day (what a tar rotation keeps).

Everything made here carries the label ``cf.bench=backup`` and is removed at the end. Results replace the
backups section of docs/benchmarks.md (``--no-write`` to only print them). Needs root (the mountpoint
peer), restic and the Docker engine at CFA_DOCKER_URL (default: the local socket).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pydantic import SecretStr  # noqa: E402

from functions.operations.backups.restic import Restic  # noqa: E402
from functions.operations.backups.volume_streams import (  # noqa: E402
    create_staging,
    fill_staging,
    read_volumes,
    remove_volume,
    replace_from_staging,
)
from shared.docker_host import docker_client  # noqa: E402
from shared.settings import Settings  # noqa: E402

LABEL = {"cf.bench": "backup"}
RESTIC = shutil.which("restic") or "restic"
MIB = 1 << 20


def sh(api: Any, image: str, script: str, binds: dict[str, dict[str, str]]) -> str:
    container = api.create_container(
        image,
        command=["sh", "-c", script],
        labels=LABEL,
        network_disabled=True,
        host_config=api.create_host_config(binds=binds),
    )
    try:
        api.start(container)
        code = int(api.wait(container, timeout=3600)["StatusCode"])
        out = str(api.logs(container).decode(errors="replace"))
        if code != 0:
            raise RuntimeError(f"{script[:60]}… exited {code}: {out[-300:]}")
        return out
    finally:
        api.remove_container(container, force=True)


def tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def restic_env(repository: Path, password: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "RESTIC_REPOSITORY": str(repository),
        "RESTIC_PASSWORD": password,
        "HOME": os.environ.get("HOME", "/root"),
    }


def timed(step: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    value = step()
    return time.perf_counter() - started, value


async def run(args: argparse.Namespace) -> dict[str, Any]:
    api = docker_client(os.environ.get("CFA_DOCKER_URL", "unix:///var/run/docker.sock"), timeout=3600)
    work = Path(tempfile.mkdtemp(prefix="cfa-bench-backup-"))
    run_id = uuid.uuid4().hex[:8]
    volume = f"cfa-bench-{run_id}"
    restored = f"cfa-bench-{run_id}-restored"
    password = secrets.token_urlsafe(24)
    results: dict[str, Any] = {"size_mib": args.size_mib, "changed": args.changed}
    try:
        api.create_volume(volume, labels=LABEL)
        files = args.size_mib // 16
        started = time.perf_counter()
        sh(
            api,
            args.image,
            f"i=0; while [ $i -lt {files} ]; do head -c {16 * MIB} /dev/urandom > /v/f$i; i=$((i+1)); done",
            {volume: {"bind": "/v", "mode": "rw"}},
        )
        results["fill_seconds"] = time.perf_counter() - started

        settings = Settings(backup_repository=str(work / "cfa-repo"), backup_password=SecretStr(password))
        restic = Restic(settings)
        await restic.ensure()
        option_a_repo = work / "mountpoint-repo"
        await asyncio.to_thread(
            subprocess.run,
            [RESTIC, "--no-cache", "init"],
            env=restic_env(option_a_repo, password),
            check=True,
            capture_output=True,
        )
        mountpoint = Path(api.inspect_volume(volume)["Mountpoint"])

        for phase in ("full", "changed"):
            if phase == "changed":
                whole = int(args.size_mib * args.changed) // 16  # files rewritten entirely
                rest_kib = int(args.size_mib * args.changed * 1024) - whole * 16 * 1024
                sh(
                    api,
                    args.image,
                    f"i=0; while [ $i -lt {whole} ]; do head -c {16 * MIB} /dev/urandom > /v/f$i; i=$((i+1)); done; "
                    f"dd if=/dev/urandom of=/v/f{whole} bs=1024 count={rest_kib} conv=notrunc 2>/dev/null",
                    {volume: {"bind": "/v", "mode": "rw"}},
                )
            # cfa: Docker archive stream → restic --stdin
            before = tree_bytes(work / "cfa-repo")
            started = time.perf_counter()
            summary = await restic.backup(
                lambda write: read_volumes(api, {"data": volume}, args.image, write),
                filename="volumes.tar",
                tags=["kind=bench"],
                when=datetime.now(UTC),
            )
            results[f"cfa_{phase}"] = {
                "seconds": time.perf_counter() - started,
                "growth": tree_bytes(work / "cfa-repo") - before,
                "processed": summary.bytes_processed,
                "snapshot": summary.snapshot_id,
            }
            if phase == "full":  # before any other child ran: restic's own peak
                results["cfa_restic_max_rss_kib"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            # restic on the mountpoint
            before = tree_bytes(option_a_repo)
            seconds, _ = await asyncio.to_thread(
                timed,
                lambda: subprocess.run(
                    [RESTIC, "--no-cache", "backup", "--host", "cfa", "."],
                    cwd=mountpoint,
                    env=restic_env(option_a_repo, password),
                    check=True,
                    capture_output=True,
                ),
            )
            results[f"mountpoint_{phase}"] = {
                "seconds": seconds,
                "growth": tree_bytes(option_a_repo) - before,
            }
            # hand-rolled tar of the same stream, one file per day
            target = work / f"tar-{phase}.tar"
            with target.open("wb") as handle:

                def to_file(data: bytes, handle: Any = handle) -> None:
                    handle.write(data)

                seconds, _ = timed(lambda: read_volumes(api, {"data": volume}, args.image, to_file))
            results[f"tar_{phase}"] = {"seconds": seconds, "growth": target.stat().st_size}
            target.unlink()  # only its size counts; keep the disk free

        # restore the second snapshot into a fresh volume, as cfa backup restore does
        api.create_volume(restored, labels=LABEL)
        staging = f"cfa-bench-{run_id}-staging"
        create_staging(api, staging)
        started = time.perf_counter()
        await restic.dump(
            results["cfa_changed"]["snapshot"],
            "volumes.tar",
            lambda chunks: fill_staging(api, staging, args.image, chunks),
        )
        staged = time.perf_counter() - started
        replace_from_staging(api, staging, {"data": restored}, args.image)
        results["restore"] = {"staged": staged, "total": time.perf_counter() - started}
        remove_volume(api, staging)
        check = "cd /v && find . -type f | sort | xargs md5sum"
        same = sh(api, args.image, check, {volume: {"bind": "/v", "mode": "ro"}}) == sh(
            api, args.image, check, {restored: {"bind": "/v", "mode": "ro"}}
        )
        results["restore"]["identical"] = same
        results["repository_total"] = tree_bytes(work / "cfa-repo")
    finally:
        for container in api.containers(all=True, filters={"label": "cf.bench=backup"}):
            api.remove_container(container["Id"], force=True)
        for name in (volume, restored, f"cfa-bench-{run_id}-staging"):
            try:
                api.remove_volume(name, force=True)
            except Exception:  # noqa: S112 - it may never have been made
                continue
        shutil.rmtree(work, ignore_errors=True)
        api.close()
    return results


def mib(value: float) -> str:
    return f"{value / MIB:,.1f} MiB"


def report(results: dict[str, Any], args: argparse.Namespace) -> str:
    load = os.getloadavg()
    date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.machine(),
    )
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    restic_version = subprocess.run(
        [RESTIC, "version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    rows = []
    for name, key in (
        ("cfa (Docker archive → restic --stdin)", "cfa"),
        ("restic on the mountpoint (root)", "mountpoint"),
        ("hand-rolled tar to a file", "tar"),
    ):
        full, changed = results[f"{key}_full"], results[f"{key}_changed"]
        rows.append(
            f"| {name} | {full['seconds']:.1f} s | {mib(full['growth'])} | {changed['seconds']:.1f} s "
            f"| {mib(changed['growth'])} |"
        )
    changed_mib = args.size_mib * args.changed
    restore = results["restore"]
    return f"""Command: `make bench-backup` (= `.venv/bin/python bench/backup.py --size-mib {args.size_mib} --changed {args.changed}`)

Machine: {os.cpu_count()} cores ({cpu}), {memory:.1f} GiB RAM, Linux {platform.release()}, Docker engine on the local
socket, {restic_version}, Python {platform.python_version()}. Date: {date}. Load average at the end
{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (a shared machine: other work ran meanwhile, so times are
indicative; the repository growth is exact). The volume: {args.size_mib} MiB of random data in 16 MiB files
(incompressible; filling it took {results["fill_seconds"]:.1f} s). Between the two backups {changed_mib:.1f} MiB
({args.changed:.0%}) were overwritten in place: whole files plus part of one more.

| | full backup: time | repository growth | after {args.changed:.0%} changed: time | repository growth |
| --- | --- | --- | --- | --- |
{chr(10).join(rows)}

- cfa's second backup re-reads the whole volume (the archive endpoint streams all of it) but stores only
  the changed chunks: restic's content-defined chunking finds the unchanged ones inside the tar stream
  ({mib(results["cfa_changed"]["growth"])} stored for {changed_mib:.1f} MiB changed). restic on the mountpoint
  skips unchanged files ({results["mountpoint_changed"]["seconds"]:.1f} s instead of
  {results["cfa_changed"]["seconds"]:.1f} s) but needs root on the host, which `cfa serve` does not have
  (docs/backups.md); a tar rotation stores the whole volume every day.
- restic's peak memory during cfa's backups: {results["cfa_restic_max_rss_kib"] / 1024:.0f} MiB (max RSS of the
  child processes).
- Restore of the second snapshot into a fresh volume (restic dump → staging volume → copy): {restore["staged"]:.1f} s
  to the staging volume, {restore["total"]:.1f} s in all; contents identical to the source: {restore["identical"]}.
- Repository after both backups: {mib(results["repository_total"])} for {args.size_mib * 2} MiB backed up.
"""


def write_section(text: str) -> None:
    path = ROOT / "docs" / "benchmarks.md"
    content = path.read_text()
    begin, end = "<!-- backup:begin -->", "<!-- backup:end -->"
    if begin not in content:
        content = content.rstrip("\n") + f"\n\n## Backups\n\n{begin}\n{end}\n"
    head, rest = content.split(begin, 1)
    _, tail = rest.split(end, 1)
    path.write_text(f"{head}{begin}\n{text}{end}{tail}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="volume size (a multiple of 16)")
    parser.add_argument("--changed", type=float, default=0.10, help="share of the bytes changed")
    parser.add_argument("--image", default=os.environ.get("CFA_TEST_IMAGE", "cf/busybox:local"))
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md")
    args = parser.parse_args()
    results = asyncio.run(run(args))
    text = report(results, args)
    print(text)
    if not args.no_write:
        write_section(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
