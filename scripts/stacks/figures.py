"""Print the resource figures a stack run measured (tests/stacks/report.py wrote them) as a table.

Usage: python scripts/stacks/figures.py REPORT.jsonl
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def table(rows: list[dict[str, object]]) -> str:
    columns = [
        "template",
        "plan",
        "service",
        "RSS (MiB)",
        "usage incl. cache (MiB)",
        "peak usage incl. cache (MiB)",
        "peak process RSS (MiB)",
        "limit (MiB)",
        "usage hit the limit",
        "start → healthy (s)",
        "note",
    ]
    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    for row in rows:
        cells = [
            row.get("template"),
            row.get("plan"),
            row.get("service"),
            row.get("rss_mib"),
            row.get("usage_mib"),
            row.get("peak_mib"),
            row.get("peak_process_rss_mib"),
            row.get("limit_mib"),
            row.get("limit_hits"),
            row.get("start_to_healthy_s") if row.get("start_to_healthy_s") is not None else "-",
            row.get("note") or "",
        ]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    path = Path(argv[1])
    if not path.exists():
        print("no resource figures were recorded in this run")  # noqa: T201
        return 0
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    print(table(rows))  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
