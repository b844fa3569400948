"""What every benchmark shares: the machine line, percentiles, and replacing its section of
docs/benchmarks.md (between ``<!-- NAME:begin -->`` and ``<!-- NAME:end -->``; added at the end under
its heading the first time)."""

from __future__ import annotations

import contextlib
import os
import platform
import re
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from pydantic import SecretStr

from functions.operations.migrate import migrate_all
from shared.pocketbase.client import PocketBase
from shared.pocketbase.embedded import free_port, start_server, upsert_superuser

ROOT = Path(__file__).resolve().parent.parent
SUPERUSER = "bench@cfa.local"
SUPERUSER_PASSWORD = SecretStr("bench-superuser-password")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError, StopIteration):
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        cpu = next(line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
    memory = ""
    try:
        kib = int(re.findall(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())[0])
        memory = f", {kib / 1024 / 1024:.0f} GiB RAM"
    except (OSError, IndexError):
        pass
    return f"{os.cpu_count()} cores ({cpu}){memory}, Python {platform.python_version()}, {platform.system()} {platform.release()}"


def write_section(name: str, heading: str, text: str) -> None:
    path = ROOT / "docs" / "benchmarks.md"
    content = path.read_text()
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    if begin not in content:
        content += f"\n## {heading}\n\n{begin}\n{end}\n"
    head, rest = content.split(begin, 1)
    _, tail = rest.split(end, 1)
    path.write_text(f"{head}{begin}\n{text}{end}{tail}")


@contextlib.asynccontextmanager
async def migrated_pocketbase(prefix: str) -> AsyncIterator[tuple[PocketBase, Path]]:
    """A real PocketBase on a temporary data directory, migrated; (a superuser client, the work
    directory, which settings may use as CFA_DATA_DIR). Stopped and removed afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    upsert_superuser(workdir / "pb_data", SUPERUSER, SUPERUSER_PASSWORD)
    port = free_port()
    server = start_server(workdir / "pb_data", port)
    try:
        async with PocketBase(f"http://127.0.0.1:{port}", SUPERUSER, SUPERUSER_PASSWORD) as pb:
            await migrate_all(pb)
            yield pb, workdir
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(workdir, ignore_errors=True)
